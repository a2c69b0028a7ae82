"""No record is lost or stored twice when the poller is killed (SIGKILL) at any moment.

A child process (``poll_child.poll_forever``) polls the fake desk without pause; each poll
(at most 4 pages of 7) commits its messages and its cursor together. Meanwhile the desk
keeps getting new tickets, three per timestamp, so polls end in the middle of a timestamp
and the cursor boundary is crossed all the time. The parent kills the child at a random
moment, again and again on the same store, then polls in-process until nothing is new.
Every ticket version the desk ever sent must then be in the store exactly once per flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import poll_child
from poll_kit import ENDPOINT, versions, write_config
from service_desk import Desk

from crossdock.bus import INTAKE, SqliteBackend
from crossdock.config import load_config
from crossdock.core.envelope import Message
from crossdock.runtime.poller import Poller

FORKSERVER = multiprocessing.get_context("forkserver")
# The forkserver imports these once (it cannot see this folder: poll_child comes later).
FORKSERVER.set_forkserver_preload(["crossdock.runtime.poller", "crossdock.config", "structlog"])
KILLS = 18
SETTINGS = {
    "pagination": {"type": "cursor_token", "token": "meta.next"},
    "records": "items",
    "record_key": "id",
    "cursor": {"param": "updated_since", "field": "updated_at"},
    "max_pages": 4,
}


async def _grow(desk: Desk, first: int, stop: asyncio.Event) -> None:
    """Add a ticket every few milliseconds; three share each timestamp."""
    n = first
    while not stop.is_set():
        desk.put(n, updated=n // 3)
        n += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), random.uniform(0.005, 0.03))


def _run_and_kill(config: Path, delay: float, polls: Any, failures: Any) -> None:
    """Start a child, wait until it is ready, let it poll ``delay`` seconds, SIGKILL it.
    Blocking: run it in a thread while the desk serves on the event loop."""
    ready = FORKSERVER.Event()
    child = FORKSERVER.Process(
        target=poll_child.poll_forever, args=(str(config), ready, polls, failures)
    )
    child.start()
    try:
        if not ready.wait(30):
            raise AssertionError("the child did not get ready")
        time.sleep(delay)  # the random moment of the kill, not a wait for a result
        child.kill()
    finally:
        child.kill()
        child.join(10)
    assert child.exitcode == -signal.SIGKILL, f"the child ended on its own ({child.exitcode})"


async def test_killed_polls_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    desk = Desk(page_size=7)
    await desk.start()
    for n in range(30):
        desk.put(n, updated=n // 3)
    stop = asyncio.Event()
    grower = asyncio.create_task(_grow(desk, 30, stop))
    config = write_config(tmp_path, {"url": f"{desk.url}/token/tickets", **SETTINGS})
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    # Plain shared integers, no lock: one child runs at a time, and a lock held by a child
    # killed mid-increment would never be released (the next reader would wait forever).
    polls, failures = FORKSERVER.RawValue("i", 0), FORKSERVER.RawValue("i", 0)
    try:
        for _ in range(KILLS):
            delay = rng.uniform(0.02, 0.3)
            await asyncio.to_thread(_run_and_kill, config, delay, polls, failures)
        stop.set()
        await grower
        stored = await _catch_up(tmp_path)
    finally:
        stop.set()
        await desk.stop()

    served = set(desk.served)
    assert served == {(t["id"], t["updated_at"]) for t in desk.tickets.values()}
    for flow in ("tickets", "audit"):
        counts = Counter(versions(stored, flow))
        lost = len(served - set(counts))
        duplicated = sum(c - 1 for c in counts.values())
        print(
            f"seed={seed} flow={flow} kills={KILLS} polls={polls.value} served={len(served)} "
            f"stored={sum(counts.values())} lost={lost} duplicated={duplicated}"
        )
        assert (lost, duplicated) == (0, 0)
        assert set(counts) == served
    assert failures.value == 0
    assert polls.value >= KILLS  # the children did poll (and were killed mid-way now and then)


async def _catch_up(folder: Path) -> list[Message]:
    """Poll in this process until a poll finds nothing new; then take every message."""
    backend = await SqliteBackend.open(folder / "crossdock.db")
    try:
        poller = Poller(backend, load_config(folder / "crossdock.yaml", env={}), ENDPOINT)
        for _ in range(1000):  # each poll stores at most 4 pages; a bug must not hang here
            if not await poller.poll_once():
                break
        else:
            raise AssertionError("the polls never ran out of new records")
        messages = []
        while batch := await backend.claim(INTAKE, worker="verify", limit=10_000):
            messages.extend(d.message for d in batch)
            await asyncio.gather(*(backend.ack(d) for d in batch))
        return messages
    finally:
        await backend.close()
