"""The configuration compiled into what the runtime acts on: flows, routes, policies.

A body goes through three mappings, each optional: its source endpoint's `to_canonical`
(`FlowPlan.canonical`), then, after the flow's conditions and routes have been decided
on that record, each route's own mapping and its endpoint's `from_canonical`
(`Route.build`). A `MappingError` raised by an endpoint's mapping carries the stage in
`stage` (e.g. ``to_canonical of zendesk``).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field

from crossdock.config import Config, Flow
from crossdock.config.rules import compile_conditions, compile_mapping
from crossdock.core.envelope import JSON
from crossdock.core.retry import RetryPolicy
from crossdock.core.rules import Condition, Mapping, MappingError, first_failing


@dataclass(frozen=True, slots=True)
class Route:
    flow: str
    endpoint: str
    when: tuple[Condition, ...]
    mapping: Mapping
    retry: RetryPolicy
    lease: float
    hold_lane: bool
    outbound: Mapping | None = None  # the endpoint's from_canonical

    def build(self, record: JSON) -> JSON:
        """The body this route's endpoint receives for `record` (already canonical)."""
        body = self.mapping.apply(record)
        if self.outbound is None:
            return body
        return in_stage(self.outbound, body, f"from_canonical of {self.endpoint}")


def failure(flow: str, exc: MappingError, endpoint: str | None = None) -> str:
    """How a mapping failure is reported (journal, CLI): ``flow F, target T: ...`` or,
    before routing, ``flow F: to_canonical of S: ...`` / ``flow F: condition: ...``."""
    if endpoint is None:
        return f"flow {flow}: {exc.stage or 'condition'}: {exc}"
    stage = f" ({exc.stage})" if exc.stage else ""
    return f"flow {flow}, target {endpoint}{stage}: {exc}"


def in_stage(mapping: Mapping, body: JSON, stage: str) -> JSON:
    """`mapping.apply(body)`, a failure marked with its stage."""
    try:
        return mapping.apply(body)
    except MappingError as exc:
        exc.stage = stage
        raise


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
    inbound: MappingABC[str, Mapping] = field(default_factory=dict)  # source → to_canonical
    sources: tuple[str, ...] = ()

    def canonical(self, source: str, body: JSON) -> JSON:
        """`body` as received from `source`, through that endpoint's to_canonical."""
        mapping = self.inbound.get(source)
        if mapping is None:
            return body
        return in_stage(mapping, body, f"to_canonical of {source}")

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


def _route(name: str, flow: Flow, index: int, outbound: MappingABC[str, Mapping]) -> Route:
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
        outbound=outbound.get(target.endpoint),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    flows: MappingABC[str, FlowPlan]

    @classmethod
    def from_config(cls, config: Config) -> Plan:
        inbound, outbound = {}, {}
        for endpoint_name, endpoint in config.endpoints.items():
            if endpoint.mapping is not None and endpoint.mapping.to_canonical is not None:
                inbound[endpoint_name] = compile_mapping(endpoint.mapping.to_canonical)
            if endpoint.mapping is not None and endpoint.mapping.from_canonical is not None:
                outbound[endpoint_name] = compile_mapping(endpoint.mapping.from_canonical)
        flows = {
            name: FlowPlan(
                name=name,
                when=compile_conditions(flow.when),
                first_match=flow.route == "first",
                routes=tuple(_route(name, flow, i, outbound) for i in range(len(flow.targets))),
                inbound={s: inbound[s] for s in flow.sources if s in inbound},
                sources=flow.sources,
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
