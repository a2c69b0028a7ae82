"""Fixtures of the poll tests: a running fake service desk, a store, a poller factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from poll_kit import ENDPOINT, make_config
from service_desk import Desk

from crossdock.bus import SqliteBackend
from crossdock.runtime.poller import Poller

MakePoller = Callable[..., Poller]


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    server = Desk()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    store = await SqliteBackend.open(tmp_path / "crossdock.db")
    yield store
    await store.close()


@pytest.fixture
def make_poller(tmp_path: Path, backend: SqliteBackend, desk: Desk) -> MakePoller:
    """``make_poller(path="/tickets", **settings)``: a Poller of endpoint ``desk``
    on the fake desk, storing in ``backend``; ``options`` go to the Poller itself."""
    count = 0

    def make(
        path: str = "/tickets",
        flows: str = "both",
        options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Poller:
        nonlocal count
        count += 1
        folder = tmp_path / f"config{count}"
        folder.mkdir()
        settings.setdefault("url", desk.url + path)
        config = make_config(folder, settings, flows=flows)
        return Poller(backend, config, ENDPOINT, **(options or {}))

    return make
