"""Delivery workers: one per target endpoint, applying its deliveries through its sink.

A worker claims only as many deliveries as it has free slots (the endpoint's
concurrency) and rate-limit tokens (taken before the claim, so no lease runs out while a
delivery waits for the rate limit), and consults the
endpoint's circuit breaker: while the breaker is open it claims nothing, so no attempts
are spent on a target that is down; when the cool-down ends one probe goes through.
A 401/403 pauses the endpoint: the delivery is given back untried, an alert is logged,
and one probe is tried after ``pause_probe`` seconds. A delivery claimed for more than
its route's ``max_attempts`` (earlier leases expired without an outcome, e.g. workers
killed mid-delivery) is parked untried, so a message can never be retried without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import structlog

from crossdock.bus import Backend, Delivery, Event, Step
from crossdock.bus.base import detail
from crossdock.connectors.base import Receipt, Sink
from crossdock.core.errors import (
    AuthError,
    CrossdockError,
    LeaseLost,
    PermanentError,
    TransientError,
)
from crossdock.core.limits import BreakerState, CircuitBreaker, TokenBucket
from crossdock.runtime.plan import Plan, Route

log = structlog.get_logger(component="delivery")


class DeliveryWorker:
    def __init__(
        self,
        backend: Backend,
        plan: Plan,
        endpoint: str,
        sink: Sink,
        *,
        concurrency: int,
        breaker: CircuitBreaker,
        bucket: TokenBucket | None = None,
        idle_wait: float = 0.5,
        pause_probe: float = 30.0,
        attempt_seconds: float | None = None,
        observer: DeliveryObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.breaker = breaker
        self._backend = backend
        self._plan = plan
        self._sink = sink
        self._concurrency = concurrency
        self._bucket = bucket
        self._idle_wait = idle_wait
        self._pause_probe = pause_probe
        self._attempt_seconds = attempt_seconds  # the sink's timeout: a lease must outlast it
        self._clock = clock  # the store's clock, which leases expire by
        self._observer = observer or DeliveryObserver()
        self._lease = plan.lease_for(endpoint)
        self._worker = f"delivery-{endpoint}-{os.getpid()}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved = 0  # deliveries on their way from intake (see `reserve`)
        self._stopping = asyncio.Event()
        self.paused_until: float | None = None

    @property
    def worker(self) -> str:
        return self._worker

    @property
    def lease_seconds(self) -> float:
        return self._lease

    def stop(self) -> None:
        self._stopping.set()
        self._backend.hand_to(self.endpoint, None)

    def reserve(self) -> bool:
        """Room for a delivery being stored right now, to be handed over leased (`take`)
        instead of claimed: only with a free slot and a rate-limit token, and while the
        endpoint is neither paused nor behind an open (or probing) circuit breaker."""
        if (
            self._stopping.is_set()
            or self.paused_until is not None
            or self.breaker.state is not BreakerState.CLOSED
            or len(self._tasks) + self._reserved >= self._concurrency
        ):
            return False
        if self._bucket is not None and self._bucket.take_up_to(1)[0] == 0:
            return False
        self._reserved += 1
        return True

    def take(self, delivery: Delivery) -> None:
        """A reserved delivery, stored and leased to this worker: attempt it now."""
        self._reserved -= 1
        self._start(delivery)

    def unreserve(self) -> None:
        self._reserved -= 1
        if self._bucket is not None:
            self._bucket.give_back(1)

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._attempt(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Claim and deliver until stopped; then let the deliveries in flight finish.
        Meanwhile deliveries stored in this process come straight here when there is room
        (`Backend.hand_to`)."""
        self._backend.hand_to(self.endpoint, self)
        while not self._stopping.is_set():
            limit = await self._capacity()
            if limit == 0:
                continue
            try:
                batch = await self._backend.claim(
                    self.endpoint, worker=self._worker, limit=limit, lease_seconds=self._lease
                )
            except CrossdockError as exc:
                log.warning("claim failed", endpoint=self.endpoint, error=str(exc))
                batch = []
            if self._bucket is not None and len(batch) < limit:
                self._bucket.give_back(limit - len(batch))
            if not batch:
                await self._idle(self._idle_wait)
                continue
            for delivery in batch:
                self._start(delivery)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for deliveries in flight (and for those being
        handed over from intake); give back the rest."""
        deadline = time.monotonic() + grace
        while self._tasks or self._reserved:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not self._tasks:  # a commit with deliveries for us is under way
                await asyncio.sleep(min(0.01, left))
                continue
            await asyncio.wait(set(self._tasks), timeout=left)
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _capacity(self) -> int:
        """How many deliveries to claim now (0: waited instead, ask again). With a rate
        limit, their tokens are taken first: a claimed delivery never waits for one while
        its lease runs."""
        wanted = await self._wanted()
        if wanted == 0 or self._bucket is None:
            return wanted
        granted, wait = self._bucket.take_up_to(wanted)
        if granted == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
        return granted

    async def _wanted(self) -> int:
        free = self._concurrency - len(self._tasks) - self._reserved
        if free <= 0:
            if self._tasks:
                await self._wait_for_a_task()
            else:  # every slot is reserved by a commit under way: its deliveries come soon
                await asyncio.sleep(0.001)
            return 0
        now = time.monotonic()
        if self.paused_until is not None and now < self.paused_until:
            await self._idle(self.paused_until - now)
            return 0
        if self.breaker.state is not BreakerState.CLOSED or self.paused_until is not None:
            if self._tasks:  # a probe is out: wait for its answer
                await self._wait_for_a_task()
                return 0
            wait = self.breaker.allow()
            if wait > 0:
                await self._idle(wait)
                return 0
            return 1
        return free

    async def _wait_for_a_task(self) -> None:
        """Until a delivery in flight ends, or `stop` is called (the deliveries in flight
        then get the hub's grace period in `drain`, not their whole timeout)."""
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({*self._tasks, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def _idle(self, seconds: float) -> None:
        stop = asyncio.create_task(self._stopping.wait())
        wake = asyncio.create_task(self._backend.wait(self.endpoint, seconds))
        await asyncio.wait({stop, wake}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stop, wake):
            task.cancel()

    async def _attempt(self, delivery: Delivery) -> None:
        route = self._plan.route(delivery.message.flow, self.endpoint)
        try:
            if route is None:
                error = f"flow {delivery.message.flow!r} has no target {self.endpoint!r}"
                await self._park(delivery, None, "UnknownRoute", error, hold_lane=True)
                return
            attempt, most = delivery.message.attempt, route.retry.max_attempts
            if attempt > most:  # the outcomes of earlier attempts were never recorded
                error = (
                    f"attempt {attempt} of at most {most}: the earlier attempts' outcomes were"
                    " never recorded (their leases expired: a worker stopped or could not"
                    " record them)"
                )
                await self._park(delivery, route, "AttemptsExhausted", error, route.hold_lane)
                return
            if self._lease_too_short(delivery) or self._paused_since_it_came():
                await self._backend.release(delivery)  # untried: it comes back with a new lease
                return
            await self._deliver(delivery, route)
        except asyncio.CancelledError:
            with contextlib.suppress(CrossdockError):
                await asyncio.shield(self._backend.release(delivery))
            raise
        except LeaseLost:
            log.info("lease lost", endpoint=self.endpoint, message_id=delivery.message.id)
        except CrossdockError as exc:  # the store: the lease expires and it comes back
            log.warning("outcome not recorded", message_id=delivery.message.id, error=str(exc))

    def _paused_since_it_came(self) -> bool:
        """Whether the endpoint is paused (a 401/403) though this delivery is starting: it
        was leased (handed over or claimed) while another's request was still out. It would
        carry the credentials just refused; after the pause one probe goes alone."""
        return self.paused_until is not None and time.monotonic() < self.paused_until

    def _lease_too_short(self, delivery: Delivery) -> bool:
        """Whether the lease could run out before an attempt's timeout: the delivery would
        then be handed out again while this request may still reach the target, and the
        two (or the key's next message) could arrive in either order."""
        if self._attempt_seconds is None:
            return False
        left = delivery.lease_expires - self._clock()
        if left > self._attempt_seconds:
            return False
        log.warning(
            "delivery given back untried: its lease would run out before the request's timeout",
            endpoint=self.endpoint,
            message_id=delivery.message.id,
            lease_left=round(left, 3),
            timeout=self._attempt_seconds,
        )
        return True

    async def _deliver(self, delivery: Delivery, route: Route) -> None:
        started = time.monotonic()
        try:
            receipt = await self._sink.deliver(delivery)
        except AuthError as exc:
            await self._pause(delivery, exc)
        except TransientError as exc:
            self._breaker_failure(exc)
            await self._transient(delivery, route, exc, time.monotonic() - started)
        except PermanentError as exc:
            self._breaker_success()
            await self._park(
                delivery, route, type(exc).__name__, str(exc), route.hold_lane, facts=exc.facts()
            )
        except Exception as exc:  # a bug in the connector: park, and log it loudly
            log.exception("sink failed unexpectedly", endpoint=self.endpoint)
            await self._park(delivery, route, type(exc).__name__, str(exc), route.hold_lane)
        else:
            self._breaker_success()
            if self.paused_until is not None:
                self.paused_until = None
                log.warning(
                    "endpoint resumed: the target accepted a delivery", endpoint=self.endpoint
                )
                self._observer.paused(self.endpoint, False)
            await self._delivered(delivery, receipt, time.monotonic() - started)

    def _breaker_failure(self, exc: TransientError) -> None:
        before = self.breaker.state
        self.breaker.failure()
        if self.breaker.state is BreakerState.OPEN:
            if before is BreakerState.CLOSED:
                self._observer.breaker(self.endpoint, True)
            # once per opening or failed probe: bounded by the cool-down, not the traffic
            log.warning(
                "circuit open: no attempts until the next probe"
                if before is BreakerState.CLOSED
                else "probe failed: circuit open again",
                endpoint=self.endpoint,
                error=str(exc),
                probe_in=round(self.breaker.probe_in(), 1),
            )

    def _breaker_success(self) -> None:
        if self.breaker.state is BreakerState.CLOSED:
            self.breaker.success()
            return
        self.breaker.success()
        self._observer.breaker(self.endpoint, False)
        log.warning("circuit closed: the target answers again", endpoint=self.endpoint)

    async def _delivered(self, delivery: Delivery, receipt: Receipt, seconds: float) -> None:
        facts = detail(
            status=receipt.status,
            target_id=receipt.target_id,
            duration_ms=round(seconds * 1000, 1),
            **receipt.detail,
        )
        await self._backend.ack(delivery, events=[Event(Step.DELIVERED, facts)])
        self._observer.delivered(delivery, seconds)

    async def _transient(
        self, delivery: Delivery, route: Route, exc: TransientError, seconds: float
    ) -> None:
        message = delivery.message
        decision = route.retry.decide(message.attempt, time.time() - message.received_at, exc)
        facts = detail(
            error_class=type(exc).__name__,
            error=str(exc),
            retry_after=exc.retry_after,
            duration_ms=round(seconds * 1000, 1),
        )
        if decision.retry_in is None:
            await self._park(
                delivery, route, type(exc).__name__, str(exc), route.hold_lane, decision.reason
            )
            return
        when = time.time() + decision.retry_in
        event = Event(Step.FAILED, {**facts, "next_try": when})
        await self._backend.retry_at(delivery, when, events=[event])
        self._observer.failed(delivery, "transient")

    async def _park(
        self,
        delivery: Delivery,
        route: Route | None,
        error_class: str,
        error: str,
        hold_lane: bool,
        reason: str | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        event = Event(
            Step.PARKED,
            detail(error_class=error_class, error=error, reason=reason, **(facts or {})),
        )
        await self._backend.park(delivery, events=[event], hold_lane=hold_lane)
        self._observer.parked(delivery)

    async def _pause(self, delivery: Delivery, exc: AuthError) -> None:
        self.paused_until = time.monotonic() + self._pause_probe
        log.error(
            "endpoint paused: the target refused our credentials",
            endpoint=self.endpoint,
            error=str(exc),
            probe_in=self._pause_probe,
        )
        facts = {"error_class": "AuthError", "error": str(exc), "endpoint_paused": True}
        await self._backend.release(delivery, events=[Event(Step.FAILED, facts)])
        self._observer.failed(delivery, "auth")
        self._observer.paused(self.endpoint, True)


class DeliveryObserver:
    """Hooks for metrics; they do nothing by default."""

    def delivered(self, delivery: Delivery, seconds: float) -> None:
        """A delivery succeeded after ``seconds`` in the sink."""

    def failed(self, delivery: Delivery, kind: str) -> None:
        """An attempt failed: ``kind`` is transient or auth."""

    def parked(self, delivery: Delivery) -> None:
        """A delivery was parked."""

    def paused(self, endpoint: str, paused: bool) -> None:
        """The endpoint was paused (credentials refused) or resumed."""

    def breaker(self, endpoint: str, open_: bool) -> None:
        """The endpoint's circuit breaker opened (True) or closed again (False)."""
