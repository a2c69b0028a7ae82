"""The processor: filters, routes and maps received messages.

For each message: its source endpoint's `to_canonical` mapping, then the flow's conditions
(else `filtered`, with the condition that failed), then its routes (all matches, or the
first), then each route's mapping and its endpoint's `from_canonical`. The result is one
new delivery per target, stored in one commit with the journal.

Intake asks `Processor.decide` before it stores a message and stores the outcome with it,
so most messages never wait in the intake queue. Messages without an outcome (a mapping
failed; their intake lane held an earlier message; a source that does not ask) wait in
intake, and `Processor.run` drains it: the intake delivery is acknowledged together with
the new deliveries. A mapping failure parks the message at intake (naming flow, target,
field, path and value); it never stops other messages.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from crossdock.bus import INTAKE, Backend, Delivery, Event, Forward, Routed, Step
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import CrossdockError, LeaseLost
from crossdock.core.rules import MappingError
from crossdock.runtime.plan import Plan, failure

log = structlog.get_logger(component="processor")


class ProcessorObserver:
    """Told what the processor decided, after it is committed; does nothing by default."""

    def routed(self, flow: str, targets: list[str]) -> None:
        """The message was mapped for these targets."""

    def filtered(self, flow: str, reason: str) -> None:
        """Dropped on purpose; `reason` is ``condition`` or ``no_route``."""

    def not_mapped(self, flow: str, target: str | None) -> None:
        """Parked before delivery: a mapping or condition failed (target None: the flow's
        condition, or an unknown flow)."""


class Processor:
    """Drains the intake destination until stopped."""

    def __init__(
        self,
        backend: Backend,
        plan: Plan,
        *,
        keep_payloads: bool = True,
        observer: ProcessorObserver | None = None,
        batch: int = 64,
        idle_wait: float = 0.5,
        lease: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._plan = plan
        self._keep_payloads = keep_payloads
        self._observer = observer or ProcessorObserver()
        self._batch = batch
        self._idle_wait = idle_wait
        self._lease = lease
        self._clock = clock
        self._worker = f"processor-{os.getpid()}"
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = await self._backend.claim(
                    INTAKE, worker=self._worker, limit=self._batch, lease_seconds=self._lease
                )
            except CrossdockError as exc:
                log.warning("claim failed", destination=INTAKE, error=str(exc))
                batch = []
            if not batch:
                await self._backend.wait(INTAKE, self._idle_wait)
                continue
            await asyncio.gather(*(self._process(d) for d in batch))

    async def _process(self, delivery: Delivery) -> None:
        try:
            if self._clock() > delivery.lease_expires - self._lease / 3:
                # The batch took so long that this lease runs out soon: give the message
                # back untried rather than map it while another process may take it over.
                await self._backend.release(delivery)
                return
            await self._settle(delivery)
        except LeaseLost:
            log.info("lease lost", message_id=delivery.message.id)
        except CrossdockError as exc:  # the store: the lease expires, the message comes back
            log.warning("processing not recorded", message_id=delivery.message.id, error=str(exc))

    def decide(self, message: Message) -> Routed | None:
        """The outcome for a message not stored yet, to store with it (`Routed`); None if
        it fails (unknown flow, mapping error): stored for intake, it is parked from there
        by `run` with the error."""
        outcome = self._outcome(message, message.body)
        return outcome if isinstance(outcome, Routed) else None

    def committed(self, message: Message, routed: Routed) -> None:
        """Tell the observer about an outcome from `decide` stored with its message."""
        if routed.forward:
            self._observer.routed(message.flow, [f.destination for f in routed.forward])
        else:
            reason = routed.events[0].detail.get("reason") if routed.events else None
            self._observer.filtered(message.flow, str(reason or "condition"))

    def _outcome(self, message: Message, body: JSON) -> Routed | _Failure:
        flow = self._plan.flows.get(message.flow)
        if flow is None:
            error = f"flow {message.flow!r} is not in the configuration"
            return _Failure("UnknownFlow", error, None, hold_lane=True)
        try:
            record = flow.canonical(message.source, body)
            decision = flow.decide(record)
        except MappingError as exc:  # to_canonical failed or a condition hit a limit
            error = failure(flow.name, exc)
            return _Failure("MappingError", error, None, flow.routes[0].hold_lane)
        if decision.filtered is not None:
            detail = {"rule": decision.filtered, "reason": decision.reason or "condition"}
            return Routed([Event(Step.FILTERED, detail)])
        forwards = []
        for route in decision.routes:
            try:
                payload = route.build(record)
            except MappingError as exc:
                error = failure(flow.name, exc, route.endpoint)
                return _Failure("MappingError", error, route.endpoint, route.hold_lane)
            snapshot = payload if self._keep_payloads else None
            forwards.append(
                Forward(route.endpoint, payload, [Event(Step.MAPPED, payload=snapshot)])
            )
        targets: list[JSON] = [f.destination for f in forwards]
        return Routed([Event(Step.ROUTED, {"targets": targets})], forwards)

    async def _settle(self, delivery: Delivery) -> None:
        message = delivery.message
        outcome = self._outcome(message, delivery.payload)
        if isinstance(outcome, _Failure):
            event = Event(Step.PARKED, {"error_class": outcome.error_class, "error": outcome.error})
            await self._backend.park(delivery, events=[event], hold_lane=outcome.hold_lane)
            self._observer.not_mapped(message.flow, outcome.target)
            return
        await self._backend.ack(delivery, events=outcome.events, forward=outcome.forward)
        self.committed(message, outcome)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a message cannot be routed: parked at intake with this error."""

    error_class: str
    error: str
    target: str | None  # the route whose mapping failed; None: before routing
    hold_lane: bool
