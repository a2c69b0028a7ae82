"""``crossdock run`` and its workers over their life: a worker that cannot start stops the
hub (exit 1, one line) instead of being restarted forever; one that dies after it was
ready is replaced.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from e2e_kit import (
    HubProcess,
    Target,
    feed_config,
    free_port,
    post_hook,
    wait_until,
)

from crossdock.bus import SqliteBackend


def _hub(
    folder: Path, target: Target, make_hub: Callable[..., HubProcess], *, workers: int
) -> HubProcess:
    port = free_port()
    return make_hub(feed_config(folder, port, target.url), port, workers=workers)


def _errors(hub: HubProcess) -> list[str]:
    return [line for line in hub.log_tail(200).splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_store_that_stays_locked_stops_the_hub(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess], workers: int
) -> None:
    """Another process holds an exclusive transaction on the store: every worker's start
    fails with "database is locked" (after the 10 s busy timeout). The hub exits 1 with
    that one line, as ``--workers 1`` does, instead of restarting its workers."""
    store = tmp_path / "hub.db"
    backend = await SqliteBackend.open(store)
    await backend.close()
    holder = sqlite3.connect(store, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        hub = _hub(tmp_path, target, make_hub, workers=workers)
        hub.start()
        code = await hub.wait_exit(60)
    finally:
        holder.close()
    log = hub.log_tail(200)
    assert code == 1, log
    assert _errors(hub) == [f"error: cannot open the store {store}: database is locked"], log
    assert "Traceback" not in log
    assert "worker died" not in log


async def test_a_worker_that_dies_after_it_was_ready_is_replaced(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    hub = _hub(tmp_path, target, make_hub, workers=2)
    await hub.start_ready()
    first = await wait_until(
        lambda: len(hub.children()) == 2 and hub.children(), timeout=30, what="2 workers"
    )
    # Both ready (each logs "started" after telling the parent so): /readyz answered by
    # one of them says nothing of the other, and a worker killed before it was ready
    # stops the hub instead (see the test above).
    await wait_until(
        lambda: sum(e.get("event") == "started" for e in hub.logs()) == 2,
        timeout=30,
        what="both workers ready",
    )
    os.kill(first[0], signal.SIGKILL)
    await wait_until(
        lambda: len(hub.children()) == 2 and first[0] not in hub.children(),
        timeout=30,
        what="a new worker in place of the one killed",
    )
    assert any(e.get("event") == "worker died; starting another" for e in hub.logs())
    async with aiohttp.ClientSession() as session:
        status, answer = await post_hook(session, hub.url, "feed", {"n": 1})
    assert status == 202, answer
    await wait_until(lambda: target.arrivals, timeout=30, what="the delivery")
    code, _ = await hub.stop()
    assert code == 0, hub.log_tail()
