"""What a flow does with one body, without a store: offline runs of mappings, conditions
and routes, for ``crossdock map test``, ``crossdock test`` and ``crossdock map replay``.

`preview` decides exactly as the processor does: the source endpoint's `to_canonical`,
the flow's conditions and routes (`FlowPlan.decide`) on that record, then per route its
own mapping and its endpoint's `from_canonical` — each mapping traced field by field.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossdock.core.envelope import JSON
from crossdock.core.rules import MappingError, MappingTrace
from crossdock.runtime.plan import FlowPlan, failure


@dataclass(frozen=True, slots=True)
class Stage:
    """One mapping applied on the way, e.g. ``to_canonical of zendesk``, and its trace."""

    name: str
    trace: MappingTrace


@dataclass(frozen=True, slots=True)
class TargetPreview:
    """One routed target: its mappings in order (the route's own, then the endpoint's
    from_canonical when it has one) and the body it would receive."""

    endpoint: str
    stages: tuple[Stage, ...]
    error: str | None = None

    @property
    def output(self) -> JSON:
        return None if self.error is not None else self.stages[-1].trace.output


@dataclass(frozen=True, slots=True)
class FlowPreview:
    """The outcome for one body: failed before routing, filtered (with the rule), or routed
    to targets (each mapped or failed)."""

    flow: str
    source: str | None = None
    inbound: Stage | None = None  # the source endpoint's to_canonical, if it has one
    filtered: str | None = None
    failed: str | None = None  # to_canonical failed or a condition could not be evaluated
    targets: tuple[TargetPreview, ...] = ()

    @property
    def error(self) -> str | None:
        """The first error the processor would park the message with, if any."""
        if self.failed is not None:
            return self.failed
        return next((t.error for t in self.targets if t.error is not None), None)

    def outputs(self) -> dict[str, JSON]:
        """Body per target endpoint, for the targets whose mappings succeeded."""
        return {t.endpoint: t.output for t in self.targets if t.error is None}


def preview(
    flow: FlowPlan, body: JSON, *, source: str | None = None, target: str | None = None
) -> FlowPreview:
    """Run `body`, as received from `source` (default: the flow's first source), through
    `flow`; with `target`, only the routes to that endpoint (their conditions must hold)."""
    source = source or (flow.sources[0] if flow.sources else None)
    record, inbound = body, None
    if source is not None and source in flow.inbound:
        inbound = Stage(f"to_canonical of {source}", flow.inbound[source].trace(body))
        if inbound.trace.error is not None:
            inbound.trace.error.stage = inbound.name
            return FlowPreview(
                flow.name, source, inbound, failed=failure(flow.name, inbound.trace.error)
            )
        record = inbound.trace.output
    try:
        decision = flow.decide(record)
    except MappingError as exc:
        return FlowPreview(flow.name, source, inbound, failed=failure(flow.name, exc))
    if decision.filtered is not None:
        return FlowPreview(flow.name, source, inbound, filtered=decision.filtered)
    routes = [r for r in decision.routes if target is None or r.endpoint == target]
    if not routes:
        return FlowPreview(flow.name, source, inbound, filtered=f"no route to {target} matched")
    targets = []
    for route in routes:
        stages = [Stage(f"flow {flow.name} → target {route.endpoint}", route.mapping.trace(record))]
        if route.outbound is not None and stages[0].trace.error is None:
            stage = f"from_canonical of {route.endpoint}"
            stages.append(Stage(stage, route.outbound.trace(stages[0].trace.output)))
        error = stages[-1].trace.error
        if error is not None and len(stages) > 1:
            error.stage = stages[-1].name
        text = None if error is None else failure(flow.name, error, route.endpoint)
        targets.append(TargetPreview(route.endpoint, tuple(stages), text))
    return FlowPreview(flow.name, source, inbound, targets=tuple(targets))
