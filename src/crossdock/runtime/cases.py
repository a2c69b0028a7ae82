"""Run mapping test cases (`crossdock.config.cases`) against a configuration, offline."""

from __future__ import annotations

from dataclasses import dataclass, field

from crossdock.config.cases import TestCase
from crossdock.core.diff import Change, diff
from crossdock.runtime.plan import Plan
from crossdock.runtime.preview import FlowPreview, preview


@dataclass(frozen=True, slots=True)
class CaseResult:
    """Whether a case passed; if not, what was wrong (`problems`) and, per target, how the
    body differs from the expected one (`changes`: expected → actual)."""

    case: TestCase
    problems: tuple[str, ...] = ()
    changes: dict[str, list[Change]] = field(default_factory=dict)
    outcome: FlowPreview | None = None

    @property
    def passed(self) -> bool:
        return not self.problems and not any(self.changes.values())


def run_case(plan: Plan, case: TestCase) -> CaseResult:
    flow = plan.flows.get(case.flow)
    if flow is None:
        return CaseResult(case, (f"no flow {case.flow!r} in the configuration",))
    if case.target is not None and all(r.endpoint != case.target for r in flow.routes):
        return CaseResult(case, (f"flow {case.flow} has no target {case.target!r}",))
    if case.source is not None and case.source not in flow.sources:
        return CaseResult(case, (f"flow {case.flow} has no source {case.source!r}",))
    outcome = preview(flow, case.body, source=case.source, target=case.target)
    problems = _problems(case, outcome)
    if case.expect is None:
        return CaseResult(case, tuple(problems), outcome=outcome)
    outputs = outcome.outputs()
    changes = {
        name: diff(expected, outputs[name], subset=case.subset)
        for name, expected in case.expect.items()
        if name in outputs
    }
    return CaseResult(case, tuple(problems), changes, outcome)


def _problems(case: TestCase, outcome: FlowPreview) -> list[str]:
    got = _said(outcome)
    if case.error is not None:
        if outcome.error is not None and case.error in outcome.error:
            return []
        return [f"expected an error containing {case.error!r}; {got}"]
    if case.filtered:
        return [] if outcome.filtered is not None else [f"expected it filtered; {got}"]
    assert case.expect is not None
    if outcome.error is not None or outcome.filtered is not None:
        return [f"expected bodies for {_names(case.expect)}; {got}"]
    received = outcome.outputs()
    problems = [f"target {name} received nothing" for name in case.expect if name not in received]
    problems += [
        f"target {name} also received a body, not in expect"
        for name in received
        if name not in case.expect
    ]
    return problems


def _said(outcome: FlowPreview) -> str:
    if outcome.error is not None:
        return f"got the error: {outcome.error}"
    if outcome.filtered is not None:
        return f"it was filtered ({outcome.filtered})"
    return f"it was mapped for {_names(outcome.outputs())}"


def _names(names: object) -> str:
    assert isinstance(names, dict)
    return ", ".join(names) or "no target"
