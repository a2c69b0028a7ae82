"""The configuration compiled into what the runtime acts on: flows, routes, policies."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

from crossdock.config import Config, Flow
from crossdock.config.rules import compile_conditions, compile_mapping
from crossdock.core.envelope import JSON
from crossdock.core.retry import RetryPolicy
from crossdock.core.rules import Condition, Mapping, first_failing


@dataclass(frozen=True, slots=True)
class Route:
    flow: str
    endpoint: str
    when: tuple[Condition, ...]
    mapping: Mapping
    retry: RetryPolicy
    lease: float
    hold_lane: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a body goes: the routes it takes, or the rule that filtered it out and
    whether that was the flow's condition or that no route matched."""

    routes: tuple[Route, ...] = ()
    filtered: str | None = None
    reason: str | None = None  # "condition" or "no_route" when filtered


@dataclass(frozen=True, slots=True)
class FlowPlan:
    name: str
    when: tuple[Condition, ...]
    first_match: bool
    routes: tuple[Route, ...]

    def decide(self, body: JSON) -> Decision:
        """The flow's conditions, then its routes (all matches, or the first).

        Raises `MappingError` when a condition cannot be evaluated."""
        failing = first_failing(self.when, body)
        if failing is not None:
            return Decision(filtered=f"flow.when: {failing}", reason="condition")
        matched = [r for r in self.routes if first_failing(r.when, body) is None]
        if not matched:
            return Decision(filtered="no route matched", reason="no_route")
        return Decision(routes=tuple(matched[:1] if self.first_match else matched))


def _route(name: str, flow: Flow, index: int) -> Route:
    target = flow.targets[index]
    r = target.retry
    return Route(
        flow=name,
        endpoint=target.endpoint,
        when=compile_conditions(target.when),
        mapping=compile_mapping(target.mapping),
        retry=RetryPolicy(
            max_attempts=r.max_attempts,
            initial_delay=r.initial_delay.total_seconds(),
            max_delay=r.max_delay.total_seconds(),
            multiplier=r.multiplier,
            jitter=r.jitter,
            max_age=r.max_age.total_seconds(),
        ),
        lease=target.lease.total_seconds(),
        hold_lane=flow.on_park == "hold",
    )


@dataclass(frozen=True, slots=True)
class Plan:
    flows: MappingABC[str, FlowPlan]

    @classmethod
    def from_config(cls, config: Config) -> Plan:
        flows = {
            name: FlowPlan(
                name=name,
                when=compile_conditions(flow.when),
                first_match=flow.route == "first",
                routes=tuple(_route(name, flow, i) for i in range(len(flow.targets))),
            )
            for name, flow in config.flows.items()
        }
        return cls(flows)

    def route(self, flow: str, endpoint: str) -> Route | None:
        plan = self.flows.get(flow)
        if plan is None:
            return None
        return next((r for r in plan.routes if r.endpoint == endpoint), None)

    def target_endpoints(self) -> list[str]:
        return sorted({r.endpoint for f in self.flows.values() for r in f.routes})

    def lease_for(self, endpoint: str) -> float:
        """The longest lease any flow asks for at this endpoint."""
        leases = [r.lease for f in self.flows.values() for r in f.routes if r.endpoint == endpoint]
        return max(leases, default=30.0)
