"""The ``crossdock`` command line; `main` is the entry point, `app` the Typer app."""

from __future__ import annotations

from crossdock.cli import mapping, queue, run, testing
from crossdock.cli.app import app, main

queue.register(app)
mapping.register(app)
testing.register(app)
run.register(app)

__all__ = ["app", "main"]
