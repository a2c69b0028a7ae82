"""The hub: intake, processor and delivery workers in one process, and their shutdown.

`Hub.run` starts everything on one event loop and returns after a clean shutdown:
intake stops accepting (503 with Retry-After), the HTTP server closes, the processor and
the workers stop claiming, deliveries in flight get ``grace`` seconds to finish and the
rest are given back untried (they are redelivered on the next start), then the store
closes. Nothing accepted is lost at any point: whatever was acknowledged is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Generator, Sequence
from datetime import timedelta

import structlog
import uvicorn

from crossdock.bus import Backend, SqliteBackend
from crossdock.config import Config
from crossdock.connectors import create_sink
from crossdock.connectors.base import Sink
from crossdock.core.errors import CrossdockError
from crossdock.core.limits import CircuitBreaker, TokenBucket
from crossdock.intake import create_intake_app
from crossdock.intake.server import uvicorn_config
from crossdock.observability.metrics import Metrics
from crossdock.runtime.delivery import DeliveryWorker
from crossdock.runtime.observe import MetricsObserver
from crossdock.runtime.plan import Plan
from crossdock.runtime.poller import Poller, pollers_for
from crossdock.runtime.processor import Processor

log = structlog.get_logger(component="hub")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the hub owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Hub:
    def __init__(
        self,
        config: Config,
        *,
        grace: float = 10.0,
        workers_total: int = 1,
        run_pollers: bool = True,
        shared_metrics: str | None = None,
    ) -> None:
        """``shared_metrics``: the folder where the worker processes of one hub keep their
        metrics, so that each shows the whole hub's (`Metrics`)."""
        self.config = config
        self.run_pollers = run_pollers  # only one process may poll an endpoint
        self.grace = grace
        self.workers_total = workers_total
        self.plan = Plan.from_config(config)
        self.metrics = Metrics(shared=shared_metrics)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, sockets: Sequence[socket.socket] | None = None) -> None:
        store = self.config.store
        backend = await SqliteBackend.open(
            store.path, mask=self.config.journal.mask, reserve_bytes=store.reserve
        )
        try:
            await self._run(backend, sockets)
        finally:
            await backend.close()
            log.info("stopped")

    async def _run(self, backend: Backend, sockets: Sequence[socket.socket] | None) -> None:
        sinks = self._sinks()
        try:
            for sink in sinks.values():
                await sink.open()
            await self._serve(backend, sinks, sockets)
        finally:
            for sink in sinks.values():
                await sink.close()

    async def _serve(
        self, backend: Backend, sinks: dict[str, Sink], sockets: Sequence[socket.socket] | None
    ) -> None:
        workers = [self._worker(backend, name, sink) for name, sink in sinks.items()]
        processor = Processor(
            backend,
            self.plan,
            keep_payloads=self.config.journal.keep_payloads,
            observer=MetricsObserver(self.metrics),
        )
        app = create_intake_app(
            self.config,
            backend,
            metrics=self.metrics,
            router=processor,
            workers=self.workers_total,
        )
        server = _Server(uvicorn_config(app, self.config.server))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        serving = asyncio.create_task(server.serve(sockets=list(sockets) if sockets else None))
        polled = pollers_for(self.config) if self.run_pollers else []
        pollers = [Poller(backend, self.config, name, router=processor) for name in polled]
        running = [asyncio.create_task(processor.run())]
        running += [asyncio.create_task(w.run()) for w in workers]
        running += [asyncio.create_task(p.run()) for p in pollers]
        housekeeping = asyncio.create_task(self._housekeeping(backend))
        sharing = asyncio.create_task(self._share_metrics()) if self.metrics.shared else None
        log.info(
            "started",
            host=self.config.server.host,
            port=self.config.server.port,
            flows=sorted(self.config.flows),
            targets=sorted(sinks),
        )
        stopped = asyncio.create_task(self._stop.wait())
        await asyncio.wait([stopped, serving], return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        app.drain()
        server.should_exit = True
        processor.stop()
        for w in workers:
            w.stop()
        for p in pollers:
            p.stop()
        await asyncio.gather(*running)
        await asyncio.gather(*(w.drain(self.grace) for w in workers))
        if sharing is not None:
            sharing.cancel()
            self._publish_metrics()  # with the last deliveries
        housekeeping.cancel()
        stopped.cancel()
        await app.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        failure = await asyncio.gather(serving, return_exceptions=True)
        if isinstance(failure[0], BaseException):
            raise CrossdockError(f"the HTTP server stopped: {failure[0]!r}")

    def _sinks(self) -> dict[str, Sink]:
        return {
            name: create_sink(
                name, self.config.endpoints[name].connector, self.config.endpoints[name].settings
            )
            for name in self.plan.target_endpoints()
        }

    def _worker(self, backend: Backend, name: str, sink: Sink) -> DeliveryWorker:
        settings = self.config.endpoints[name].settings
        concurrency = int(getattr(settings, "concurrency", 8))
        timeout: timedelta | None = getattr(settings, "timeout", None)
        rate = getattr(settings, "rate_limit", None)
        bucket = None
        if rate:
            burst = float(getattr(settings, "burst", 1) or 1)
            bucket = TokenBucket.shared(float(rate), burst, self.workers_total)
        breaker_settings = getattr(settings, "breaker", None)
        breaker = CircuitBreaker()
        pause_probe = 30.0
        if breaker_settings is not None:
            pause_probe = breaker_settings.auth_probe.total_seconds()
            breaker = CircuitBreaker(
                threshold=breaker_settings.threshold,
                cooldown=breaker_settings.cooldown.total_seconds(),
                max_cooldown=breaker_settings.max_cooldown.total_seconds(),
            )
        return DeliveryWorker(
            backend,
            self.plan,
            name,
            sink,
            concurrency=concurrency,
            breaker=breaker,
            bucket=bucket,
            pause_probe=pause_probe,
            attempt_seconds=timeout.total_seconds() if timeout is not None else None,
            observer=MetricsObserver(self.metrics),
        )

    async def _share_metrics(self) -> None:
        """Publish this worker's metrics for the other workers' scrapes, every second."""
        while True:
            self._publish_metrics()
            await asyncio.sleep(1.0)

    def _publish_metrics(self) -> None:
        try:
            self.metrics.publish()
        except OSError as exc:
            log.warning("metrics not shared with the other workers", error=str(exc))

    async def _housekeeping(self, backend: Backend) -> None:
        """Purge the journal past its retention, hourly. (Intake refreshes queue gauges.)"""
        retention = self.config.journal.retention.total_seconds()
        next_purge = 0.0
        while True:
            if time.monotonic() >= next_purge:
                try:
                    purged = await backend.purge(time.time() - retention)
                    if purged:
                        log.info("journal purged", messages=purged)
                except CrossdockError as exc:
                    log.warning("purge failed", error=str(exc))
                next_purge = time.monotonic() + 3600
            await asyncio.sleep(5)
