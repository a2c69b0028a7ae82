"""The processor: takes received messages from intake, filters, routes and maps them.

For each message: its source endpoint's `to_canonical` mapping, then the flow's conditions
(else `filtered`, with the condition that failed), then its routes (all matches, or the
first), then each route's mapping and its endpoint's `from_canonical`. The intake
delivery is acknowledged together with one new delivery per target, in one commit, with
the journal. A mapping failure parks the message (naming flow, target, field, path and
value); it never stops other messages.
"""

from __future__ import annotations

import asyncio
import os

import structlog

from crossdock.bus import INTAKE, Backend, Delivery, Event, Forward, Step
from crossdock.core.envelope import JSON
from crossdock.core.errors import CrossdockError, LeaseLost
from crossdock.core.rules import MappingError
from crossdock.runtime.plan import Plan, Route, failure

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
    ) -> None:
        self._backend = backend
        self._plan = plan
        self._keep_payloads = keep_payloads
        self._observer = observer or ProcessorObserver()
        self._batch = batch
        self._idle_wait = idle_wait
        self._worker = f"processor-{os.getpid()}"
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = await self._backend.claim(
                    INTAKE, worker=self._worker, limit=self._batch, lease_seconds=30.0
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
            await self._settle(delivery)
        except LeaseLost:
            log.info("lease lost", message_id=delivery.message.id)
        except CrossdockError as exc:  # the store: the lease expires, the message comes back
            log.warning("processing not recorded", message_id=delivery.message.id, error=str(exc))

    async def _settle(self, delivery: Delivery) -> None:
        message = delivery.message
        flow = self._plan.flows.get(message.flow)
        if flow is None:
            error = f"flow {message.flow!r} is not in the configuration"
            await self._backend.park(delivery, events=[_parked("UnknownFlow", error)])
            self._observer.not_mapped(message.flow, None)
            return
        try:
            record = flow.canonical(message.source, delivery.payload)
            decision = flow.decide(record)
        except MappingError as exc:  # to_canonical failed or a condition hit a limit
            hold = flow.routes[0].hold_lane
            error = failure(flow.name, exc)
            await self._backend.park(
                delivery, events=[_parked("MappingError", error)], hold_lane=hold
            )
            self._observer.not_mapped(flow.name, None)
            return
        if decision.filtered is not None:
            event = Event(Step.FILTERED, {"rule": decision.filtered})
            await self._backend.ack(delivery, events=[event])
            self._observer.filtered(flow.name, decision.reason or "condition")
            return
        routes = decision.routes
        forwards = []
        for route in routes:
            try:
                forwards.append(self._forward(route, record))
            except MappingError as exc:
                error = failure(flow.name, exc, route.endpoint)
                event = _parked("MappingError", error)
                await self._backend.park(delivery, events=[event], hold_lane=route.hold_lane)
                self._observer.not_mapped(flow.name, route.endpoint)
                return
        targets = [r.endpoint for r in routes]
        await self._backend.ack(
            delivery, events=[Event(Step.ROUTED, {"targets": targets})], forward=forwards
        )
        self._observer.routed(flow.name, targets)

    def _forward(self, route: Route, record: JSON) -> Forward:
        payload = route.build(record)
        snapshot = payload if self._keep_payloads else None
        return Forward(route.endpoint, payload, [Event(Step.MAPPED, payload=snapshot)])


def _parked(error_class: str, error: str) -> Event:
    return Event(Step.PARKED, {"error_class": error_class, "error": error})
