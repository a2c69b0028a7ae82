"""What a flow does with one body, without a store: offline runs of conditions, routes and
mappings, for ``crossdock map test``, ``crossdock test`` and ``crossdock map replay``.

`preview` decides exactly as the processor does (`FlowPlan.decide`): the flow's
conditions, then its routes, then each route's mapping, traced field by field.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossdock.core.envelope import JSON
from crossdock.core.rules import MappingError, MappingTrace
from crossdock.runtime.plan import FlowPlan


@dataclass(frozen=True, slots=True)
class TargetPreview:
    """One routed target: its endpoint and how its mapping went."""

    endpoint: str
    trace: MappingTrace

    @property
    def output(self) -> JSON:
        return self.trace.output

    @property
    def error(self) -> str | None:
        return None if self.trace.error is None else str(self.trace.error)


@dataclass(frozen=True, slots=True)
class FlowPreview:
    """The outcome for one body: filtered (with the rule), failed in a condition, or
    routed to targets (each mapped or failed)."""

    flow: str
    filtered: str | None = None
    condition_error: str | None = None
    targets: tuple[TargetPreview, ...] = ()

    @property
    def error(self) -> str | None:
        """The first error the processor would park the message with, if any."""
        if self.condition_error is not None:
            return f"flow {self.flow}: condition: {self.condition_error}"
        for target in self.targets:
            if target.error is not None:
                return f"flow {self.flow}, target {target.endpoint}: {target.error}"
        return None

    def outputs(self) -> dict[str, JSON]:
        """Body per target endpoint, for the targets whose mapping succeeded."""
        return {t.endpoint: t.output for t in self.targets if t.error is None}


def preview(flow: FlowPlan, body: JSON, *, target: str | None = None) -> FlowPreview:
    """Run `body` through `flow`; with `target`, only the routes to that endpoint (whose
    conditions must still hold)."""
    try:
        decision = flow.decide(body)
    except MappingError as exc:
        return FlowPreview(flow.name, condition_error=str(exc))
    if decision.filtered is not None:
        return FlowPreview(flow.name, filtered=decision.filtered)
    routes = [r for r in decision.routes if target is None or r.endpoint == target]
    if not routes:
        return FlowPreview(flow.name, filtered=f"no route to {target} matched")
    return FlowPreview(
        flow.name, targets=tuple(TargetPreview(r.endpoint, r.mapping.trace(body)) for r in routes)
    )
