"""`crossdock run`: the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossdock.cli.common import err
from crossdock.core.errors import ConfigError, CrossdockError


def run(
    config: Annotated[Path, typer.Argument(help="Configuration file or folder.")],
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes sharing the port and the store.")
    ] = 1,
    grace: Annotated[
        float,
        typer.Option(min=0, help="Seconds deliveries in flight get to finish at shutdown."),
    ] = 10.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the hub: webhook intake, processor and delivery workers, until SIGTERM/SIGINT."""
    from crossdock.runtime.logs import configure_logging, secret_values
    from crossdock.runtime.supervisor import run_hub

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("one of debug, info, warning, error", param_hint="--log-level")
    if not config.exists():
        err.print(f"[bold red]error:[/] no configuration at {config}")
        raise typer.Exit(1)
    from crossdock.config import load_config  # here: `--help` need not load pydantic

    try:
        loaded = load_config(config)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] invalid configuration {config}")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    configure_logging(secret_values(loaded), level=log_level)
    try:
        code = run_hub(loaded, workers=workers, grace=grace)
    except CrossdockError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command()(run)
