"""What the CLI's commands share: consoles, common options, errors, configuration."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from crossdock.bus import Backend, SqliteBackend
from crossdock.core.errors import ConfigError, CrossdockError

if TYPE_CHECKING:
    from crossdock.config import Config

T = TypeVar("T")

# Piped output (scripts, CI logs) gets room for whole ids and times instead of 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file or folder (default: $CROSSDOCK_CONFIG or ./crossdock.yaml).",
    ),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite store file; overrides the config's store.path."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def config_path(config: Path | None) -> Path:
    """``--config``, else ``$CROSSDOCK_CONFIG``, else ``./crossdock.yaml``."""
    return config or Path(os.environ.get("CROSSDOCK_CONFIG", "crossdock.yaml"))


def read_config(config: Path | None, *, hint: str = "give --config PATH") -> Config:
    """The configuration (secrets checked, not read); exits 1 with every problem."""
    from crossdock.config import load_config

    path = config_path(config)
    if not path.exists():
        raise fail(f"no configuration at {path} ({hint})")
    try:
        return load_config(path, resolve_secrets=False)
    except ConfigError as exc:
        raise fail(f"invalid configuration {path}:\n{exc}") from None


def store_path(config: Path | None, store: Path | None) -> Path:
    """The store file: ``--store``, else ``store.path`` of the configuration."""
    if store is not None:
        path = store
    else:
        path = Path(read_config(config, hint="give --config PATH or --store FILE").store.path)
    if not path.exists():
        raise fail(f"no store at {path}: nothing has run with this configuration yet")
    return path


def with_backend(
    path: Path, work: Callable[[Backend], Awaitable[T]], *, read_only: bool = False
) -> T:
    """``work`` on the store; exits 1 with one line if the store cannot be opened or used.

    ``read_only``: ``work`` only reads; the store is opened without writing anything, so
    it can be read where it cannot be written (a read-only folder or file system).
    """

    async def run() -> T:
        backend = await SqliteBackend.open(path, read_only=read_only)
        try:
            return await work(backend)
        finally:
            await backend.close()

    try:
        return asyncio.run(run())
    except CrossdockError as exc:
        raise fail(str(exc)) from None


def print_json(data: Any) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
