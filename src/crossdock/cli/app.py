"""The ``crossdock`` command line: the Typer app and its configuration commands.

Other modules add their commands to `app` (``app.command()(...)``,
``app.add_typer(...)``); this module holds only the app and ``validate``/``schema``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from crossdock.core.errors import ConfigError, ConfigProblem

__all__ = ["app", "main"]

app = typer.Typer(
    name="crossdock",
    help="crossdock: a message hub between your systems.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def validate(
    path: Annotated[
        Path, typer.Argument(help="Configuration file, or folder of *.yaml / *.yml files.")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help='Print {"ok": ..., "problems": [...]} as JSON.')
    ] = False,
    no_secrets: Annotated[
        bool,
        typer.Option(
            "--no-secrets",
            help="Check secret references without reading them (e.g. in CI).",
        ),
    ] = False,
) -> None:
    """Check a configuration and report every problem, with its file and line.

    Exit status: 0 if valid, 1 if not.
    """
    from crossdock.config import load_config  # here: `--help` need not load pydantic

    try:
        config = load_config(path, resolve_secrets=not no_secrets)
    except ConfigError as exc:
        _report(exc.problems, json_output=json_output)
        raise typer.Exit(1) from None
    if json_output:
        typer.echo(json.dumps({"ok": True, "problems": []}))
    else:
        typer.echo(
            f"ok: {_count(len(config.endpoints), 'endpoint')}, {_count(len(config.flows), 'flow')}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _report(problems: list[ConfigProblem], *, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps({"ok": False, "problems": [asdict(p) for p in problems]}))
        return
    for problem in problems:
        typer.echo(str(problem), err=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of configuration files (for editors)."""
    from crossdock.config import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


def main() -> None:
    """Run the command line (the ``crossdock`` entry point)."""
    app()
