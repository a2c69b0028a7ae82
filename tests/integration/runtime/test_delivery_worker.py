"""The delivery worker on a real store: attempts whose outcome was never recorded, rate
limits that never let a lease run out, and deliveries handed over as they are stored."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossdock.bus import MessageStatus, SqliteBackend, Step
from crossdock.bus.base import Delivery, store_routed
from crossdock.config import load_config
from crossdock.connectors.base import Receipt
from crossdock.core.envelope import Message
from crossdock.core.errors import AuthError, TransientError
from crossdock.core.limits import BreakerState, CircuitBreaker, TokenBucket
from crossdock.runtime.delivery import DeliveryWorker
from crossdock.runtime.plan import Plan
from crossdock.runtime.processor import Processor

CONFIG = """
version: 1
endpoints:
  shop: {connector: webhook}
  erp: {connector: http, settings: {base_url: "http://127.0.0.1:9", timeout: 0.5s}}
flows:
  orders:
    source: shop
    key: id
    targets:
      - endpoint: erp
        lease: 1s
        retry: {max_attempts: 2}
"""


class Recorder:
    """A sink that answers 200 at once and records when each message came."""

    def __init__(self) -> None:
        self.got: list[tuple[str, float]] = []

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def deliver(self, delivery: Delivery) -> Receipt:
        self.got.append((delivery.message.id, time.monotonic()))
        return Receipt(status=200)


async def _setup(tmp_path: Path) -> tuple[Plan, SqliteBackend, Processor]:
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    plan = Plan.from_config(load_config(tmp_path / "c.yaml"))
    backend = await SqliteBackend.open(tmp_path / "s.db")
    return plan, backend, Processor(backend, plan)


async def _send(backend: SqliteBackend, processor: Processor, keys: list[str]) -> list[str]:
    messages = [
        Message.new(flow="orders", source="shop", event_type="o", body={"id": k}, key=k)
        for k in keys
    ]
    await store_routed(backend, messages, processor)
    return [m.id for m in messages]


def _worker(backend: SqliteBackend, plan: Plan, sink: Recorder, **options: Any) -> DeliveryWorker:
    return DeliveryWorker(
        backend, plan, "erp", sink, breaker=CircuitBreaker(), idle_wait=0.05, **options
    )


async def _run(worker: DeliveryWorker, until: float) -> None:
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(until)
    worker.stop()
    await task


async def test_a_delivery_whose_attempts_were_never_recorded_is_parked_untried(
    tmp_path: Path,
) -> None:
    plan, backend, processor = await _setup(tmp_path)
    try:
        [message_id] = await _send(backend, processor, ["k1"])
        for _ in range(2):  # two workers take it and die before recording anything
            [taken] = await backend.claim("erp", worker="dead", lease_seconds=0.01)
            await asyncio.sleep(0.02)
        sink = Recorder()
        worker = _worker(backend, plan, sink, concurrency=4)
        await _run(worker, 0.5)

        assert sink.got == []  # not sent a third time
        journey = await backend.journey(message_id)
        assert journey is not None
        assert journey.summary.status is MessageStatus.PARKED
        parked = [e for e in journey.entries if e.step is Step.PARKED]
        assert parked[-1].detail["error_class"] == "AttemptsExhausted"
        assert "attempt 3 of at most 2" in str(parked[-1].detail["error"])
        assert taken.message.attempt == 2
    finally:
        await backend.close()


async def test_a_rate_limited_delivery_never_waits_out_its_lease(tmp_path: Path) -> None:
    """12 deliveries at 6/s take 2 s, twice the 1 s lease, with 8 slots free at once: each
    is sent once, and no faster than the limit."""
    plan, backend, processor = await _setup(tmp_path)
    try:
        ids = await _send(backend, processor, [f"k{n}" for n in range(12)])
        sink = Recorder()
        worker = _worker(backend, plan, sink, concurrency=8, bucket=TokenBucket(6, 1))
        await _run(worker, 3.0)

        assert Counter(m for m, _ in sink.got) == Counter(ids)  # each once, none again
        times = sorted(at for _, at in sink.got)
        assert times[-1] - times[0] >= 11 / 6 - 0.05
    finally:
        await backend.close()


class StoreClock:
    """The store's clock, moved by hand (the worker reads leases by the same clock)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_no_request_starts_with_less_lease_left_than_its_timeout(tmp_path: Path) -> None:
    """The first delivery stalls its worker for 2 s (a lease is 1 s): the deliveries
    claimed with it are given back untried and sent later with a new lease, never with
    one that could run out mid-request."""
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    plan = Plan.from_config(load_config(tmp_path / "c.yaml"))
    clock = StoreClock()
    backend = await SqliteBackend.open(tmp_path / "s.db", clock=clock)
    left: list[float] = []

    class Stalling(Recorder):
        async def deliver(self, delivery: Delivery) -> Receipt:
            left.append(delivery.lease_expires - clock())
            if len(left) == 1:
                clock.now += 2.0  # the worker stalled here
            return await super().deliver(delivery)

    try:
        ids = await _send(backend, Processor(backend, plan), [f"k{n}" for n in range(5)])
        sink = Stalling()
        worker = _worker(backend, plan, sink, concurrency=8, attempt_seconds=0.5, clock=clock)
        await _run(worker, 1.0)

        sent = Counter(m for m, _ in sink.got)
        stalled = sink.got[0][0]  # its lease ran out during its own request: it may come
        assert set(sent) == set(ids)  # again (same Idempotency-Key); the others come once
        assert all(n == 1 for m, n in sent.items() if m != stalled), sent
        assert min(left) > 0.5, left
    finally:
        await backend.close()


# --- Deliveries handed over as they are stored (no claim) ------------------------------


async def _started(worker: DeliveryWorker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)  # running: it takes deliveries as they are stored
    return task


async def _until(check: Callable[[], bool], within: float) -> None:
    """Wait until ``check()`` holds or ``within`` seconds pass (the test asserts after)."""
    deadline = time.monotonic() + within
    while not check() and time.monotonic() < deadline:  # noqa: ASYNC110 - a sink's list
        await asyncio.sleep(0.02)


async def _stop(worker: DeliveryWorker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await task
    await worker.drain(1.0)


async def test_deliveries_handed_over_keep_to_the_endpoints_concurrency(tmp_path: Path) -> None:
    plan, backend, processor = await _setup(tmp_path)
    gate = asyncio.Event()
    inside: list[int] = []

    class Gated(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.now = 0

        async def deliver(self, delivery: Delivery) -> Receipt:
            self.now += 1
            inside.append(self.now)
            await gate.wait()
            self.now -= 1
            return await super().deliver(delivery)

    try:
        sink = Gated()
        worker = _worker(backend, plan, sink, concurrency=2)
        task = await _started(worker)
        ids: list[str] = []
        for n in range(6):  # one request each, as webhooks come
            ids += await _send(backend, processor, [f"k{n}"])
        await asyncio.sleep(0.3)
        assert max(inside) == 2
        gate.set()
        await _until(lambda: len(sink.got) == 6, 2)
        await _stop(worker, task)
        assert Counter(m for m, _ in sink.got) == Counter(ids)
        assert max(inside) == 2
    finally:
        await backend.close()


async def test_deliveries_handed_over_keep_to_the_rate_limit(tmp_path: Path) -> None:
    plan, backend, processor = await _setup(tmp_path)
    try:
        sink = Recorder()
        worker = _worker(backend, plan, sink, concurrency=8, bucket=TokenBucket(6, 1))
        task = await _started(worker)
        ids: list[str] = []
        for n in range(12):
            ids += await _send(backend, processor, [f"k{n}"])
        await _until(lambda: len(sink.got) == 12, 4)
        await _stop(worker, task)
        assert Counter(m for m, _ in sink.got) == Counter(ids)
        times = sorted(at for _, at in sink.got)
        assert times[-1] - times[0] >= 11 / 6 - 0.05
    finally:
        await backend.close()


async def test_nothing_is_handed_over_while_the_circuit_is_open(tmp_path: Path) -> None:
    plan, backend, processor = await _setup(tmp_path)

    class DownOnce(Recorder):
        async def deliver(self, delivery: Delivery) -> Receipt:
            if not self.got:
                self.got.append((delivery.message.id, time.monotonic()))
                raise TransientError("connection refused")
            return await super().deliver(delivery)

    try:
        sink = DownOnce()
        breaker = CircuitBreaker(threshold=1, cooldown=1.0)
        worker = DeliveryWorker(
            backend, plan, "erp", sink, concurrency=8, breaker=breaker, idle_wait=0.05
        )
        task = await _started(worker)
        await _send(backend, processor, ["down"])
        await asyncio.sleep(0.1)
        assert breaker.state is not BreakerState.CLOSED
        during = await _send(backend, processor, ["a", "b"])
        await asyncio.sleep(0.4)  # inside the cool-down: no attempt at all
        assert [m for m, _ in sink.got if m in during] == []
        await _until(lambda: {m for m, _ in sink.got} >= set(during), 3)
        await _stop(worker, task)
        assert {m for m, _ in sink.got} >= set(during)  # after the probe, they go
    finally:
        await backend.close()


async def test_a_delivery_leased_before_a_pause_and_started_after_it_is_given_back_untried(
    tmp_path: Path,
) -> None:
    """A commit leases a delivery to the worker while another's request is out; that
    request comes back 401 and pauses the endpoint; the leased one must not go with the
    refused credentials, nor spend an attempt."""
    plan, backend, processor = await _setup(tmp_path)

    class Refusing(Recorder):
        async def deliver(self, delivery: Delivery) -> Receipt:
            self.got.append((delivery.message.id, time.monotonic()))
            raise AuthError("401 Unauthorized: token expired")

    try:
        sink = Refusing()
        worker = _worker(backend, plan, sink, concurrency=8, pause_probe=30)
        task = await _started(worker)
        assert worker.reserve()  # a commit under way will hand a delivery over
        [first] = await _send(backend, processor, ["a"])
        await _until(lambda: worker.paused_until is not None, 2)
        assert worker.paused_until is not None
        [late] = await _send(backend, processor, ["b"])  # stored while paused: queued
        both = await backend.claim("erp", worker=worker.worker, limit=2, lease_seconds=5)
        [leased] = [d for d in both if d.message.id == late]
        worker.take(leased)  # the commit ends: handed over, now that the pause began
        await asyncio.sleep(0.2)
        assert [m for m, _ in sink.got] == [first]
        again = await backend.claim("erp", worker="next", limit=2, lease_seconds=5)
        assert [(d.message.id, d.message.attempt) for d in again] == [(late, 1)]  # unspent
        await _stop(worker, task)
    finally:
        await backend.close()


async def test_a_stopped_worker_takes_nothing_more(tmp_path: Path) -> None:
    plan, backend, processor = await _setup(tmp_path)
    try:
        sink = Recorder()
        worker = _worker(backend, plan, sink, concurrency=8)
        task = await _started(worker)
        await _stop(worker, task)
        [later] = await _send(backend, processor, ["k"])
        await asyncio.sleep(0.1)
        assert sink.got == []
        [claimed] = await backend.claim("erp", worker="next", lease_seconds=5)
        assert (claimed.message.id, claimed.message.attempt) == (later, 1)
    finally:
        await backend.close()


async def test_a_keys_next_delivery_goes_as_soon_as_the_one_before_is_acknowledged(
    tmp_path: Path,
) -> None:
    plan, backend, processor = await _setup(tmp_path)
    try:
        sink = Recorder()
        worker = DeliveryWorker(
            backend, plan, "erp", sink, concurrency=8, breaker=CircuitBreaker(), idle_wait=30
        )
        task = await _started(worker)
        started = time.monotonic()
        ids = await _send(backend, processor, ["k", "k", "k"])  # one handed, two wait
        await _until(lambda: len(sink.got) == 3, 2)
        await _stop(worker, task)
        assert [m for m, _ in sink.got] == ids
        assert sink.got[-1][1] - started < 1.0  # not after the worker's 30 s idle wait
    finally:
        await backend.close()
