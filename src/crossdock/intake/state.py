"""What the intake knows of the store between requests: queue depth, readiness, draining.

`StoreWatch.run` asks ``backend.stats()`` every ``interval`` seconds: the total depth
feeds back-pressure, the per-queue figures feed the metrics' queue gauges, and each
answer counts as a sign of life for readiness. The figures cost more as the backlog
grows, so after a slow answer the watch waits ten times as long as it took (it never
spends more than a tenth of the store's reading time on them), and readiness allows for
that wait. It also waits longer for the next answer: three times the last one, and twice
as long as before after a read that timed out (up to `MAX_READ_WAIT`), so that a store
with a very large backlog (whose figures take longer than ``stale_after`` to count, e.g.
at start) still answers and becomes ready, while one that does not answer at all never
does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

from crossdock.bus.base import QueueStats
from crossdock.core.errors import StoreError
from crossdock.observability.metrics import Metrics

__all__ = ["MAX_READ_WAIT", "QueueFigures", "StoreWatch"]

MAX_READ_WAIT = 120.0
"""Longest the watch waits for one reading of the queue figures, in seconds."""

log = structlog.get_logger("crossdock.intake")


class QueueFigures(Protocol):
    """What the watch reads: `Backend.stats`."""

    async def stats(self) -> list[QueueStats]: ...


class StoreWatch:
    """Depth, readiness and draining, as one small piece of state the handlers read."""

    def __init__(
        self,
        backend: QueueFigures,
        metrics: Metrics,
        *,
        interval: float = 1.0,
        stale_after: float = 5.0,
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self.interval = interval
        self.stale_after = stale_after
        self.depth = 0  # messages waiting in every queue, at the last refresh
        self.draining = False
        self._read_ok_at: float | None = None
        self.pause = interval  # until the next refresh: longer after a slow one
        self.read_wait = stale_after  # for the next reading: longer after a slow one
        self._write_failed_at: float | None = None

    # -- readiness ------------------------------------------------------------------------

    def wrote(self) -> None:
        """A commit succeeded."""
        self._write_failed_at = None

    def write_failed(self) -> None:
        """A commit failed (disk full, locked)."""
        self._write_failed_at = time.monotonic()

    @property
    def ever_read(self) -> bool:
        """The store has answered at least once."""
        return self._read_ok_at is not None

    def ready(self) -> bool:
        """Not draining, the store answered lately, and no commit failed lately."""
        now = time.monotonic()
        if self.draining or self._read_ok_at is None:
            return False
        if now - self._read_ok_at > self.stale_after + self.pause - self.interval:
            return False
        failed = self._write_failed_at
        return failed is None or now - failed > self.stale_after

    # -- the refresh loop -----------------------------------------------------------------

    async def refresh(self) -> bool:
        """Read the queue figures once; False if the store did not answer."""
        started = time.monotonic()
        try:
            stats = await asyncio.wait_for(self._backend.stats(), timeout=self.read_wait)
        except TimeoutError:
            log.warning("store not answering", waited=round(self.read_wait, 1))
            self.read_wait = min(MAX_READ_WAIT, 2 * self.read_wait)
            return False
        except StoreError as exc:
            log.warning("store not answering", error_class=type(exc).__name__)
            return False
        took = time.monotonic() - started
        self.pause = max(self.interval, 10 * took)
        self.read_wait = min(MAX_READ_WAIT, max(self.stale_after, 3 * took))
        self.depth = sum(s.depth for s in stats)
        self._metrics.refresh_queues(stats)
        self._read_ok_at = time.monotonic()
        return True

    async def run(self) -> None:
        """Refresh every ``interval`` seconds until cancelled or draining (the backend
        may be closed soon after the intake drains)."""
        while not self.draining:
            try:
                await self.refresh()
            except Exception as exc:  # a bug: log it, keep the intake up
                log.error("queue refresh failed", error_class=type(exc).__name__)
            await asyncio.sleep(self.pause)
