"""Fixtures of the http sink tests: a running `Target` and a factory of open sinks."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from http_target import MakeSink, Target

from crossdock.config.connectors import HttpSettings
from crossdock.connectors.http import HttpSink

# tests/faultproxy.py is shared by several test folders; make it importable from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    server = Target()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_sink(target: Target) -> AsyncIterator[MakeSink]:
    """``await make_sink(path="/x", auth=...)``: an open HttpSink on the target (or on
    ``base_url``), closed after the test."""
    sinks: list[HttpSink] = []

    async def make(clock: Callable[[], float] | None = None, **settings: Any) -> HttpSink:
        settings.setdefault("base_url", target.url)
        options = {} if clock is None else {"clock": clock}
        sink = HttpSink("erp", HttpSettings.model_validate(settings), **options)
        await sink.open()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        await sink.close()
