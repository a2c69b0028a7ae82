"""The store watch: queue figures for back-pressure and gauges, paced by their cost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crossdock.bus import QueueStats, SqliteBackend
from crossdock.intake.state import StoreWatch
from crossdock.observability.metrics import Metrics


class SlowStats:
    """A real store whose statistics take ``delay`` seconds longer, as a large backlog's do."""

    def __init__(self, backend: SqliteBackend, delay: float) -> None:
        self._backend = backend
        self.delay = delay
        self.calls = 0

    async def stats(self) -> list[QueueStats]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return await self._backend.stats()


async def test_a_slow_answer_spaces_the_next_refresh_and_readiness_allows_for_it(
    tmp_path: Path,
) -> None:
    backend = await SqliteBackend.open(tmp_path / "s.db")
    try:
        slow = SlowStats(backend, delay=0.2)
        watch = StoreWatch(slow, Metrics(), interval=0.05, stale_after=0.3)
        assert await watch.refresh()
        assert 2.0 <= watch.pause < 3.0  # ten times the 0.2 s it took
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(1.0)
        assert slow.calls == 2  # the one at the start of run(), then a wait of ~2 s
        calls_at_one_second = slow.calls
        assert watch.ready()  # 1 s after the last answer: stale for 0.3 s, not for 2 s + 0.3 s
        slow.delay = 0.0
        await asyncio.sleep(1.5)
        assert slow.calls >= calls_at_one_second + 3  # every 0.05 s again
        assert watch.pause == 0.05  # a quick answer: back to the interval
        task.cancel()
    finally:
        await backend.close()


async def test_readiness_goes_stale_when_the_store_stops_answering(tmp_path: Path) -> None:
    backend = await SqliteBackend.open(tmp_path / "s.db")
    try:
        slow = SlowStats(backend, delay=0.0)
        watch = StoreWatch(slow, Metrics(), interval=0.05, stale_after=0.3)
        assert await watch.refresh()
        assert watch.ready()
        slow.delay = 10.0  # the store hangs
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(0.8)
        assert not watch.ready()
        task.cancel()
    finally:
        await backend.close()


async def test_figures_slower_than_the_first_wait_are_waited_for_next_time(
    tmp_path: Path,
) -> None:
    """A backlog so large that counting it takes longer than ``stale_after`` (at start, say):
    the watch waits twice as long after each timeout, so the store becomes ready."""
    backend = await SqliteBackend.open(tmp_path / "s.db")
    try:
        slow = SlowStats(backend, delay=0.5)
        watch = StoreWatch(slow, Metrics(), interval=0.05, stale_after=0.3)
        assert not await watch.refresh()  # gave up after 0.3 s
        assert watch.read_wait == 0.6
        assert await watch.refresh()  # waited up to 0.6 s: answered after 0.5
        assert watch.ready()
        assert 1.5 <= watch.read_wait < 2.0  # three times the last answer
        slow.delay = 0.0
        assert await watch.refresh()
        assert watch.read_wait == 0.3  # a quick answer: back to stale_after
    finally:
        await backend.close()
