"""Recorded messages through new mappings: what each target would receive differently.

`compare` takes a message's journey (its received body and the bodies recorded when it
was mapped) and the flow of a new configuration, runs the body through the new flow
(`preview`) and says what changes: bodies field by field, targets gained or lost, and
outcomes (filtered, mapped, failed). `Summary` adds the results up. Nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crossdock.bus import INTAKE, Journey, Step
from crossdock.core.diff import Change, diff
from crossdock.core.envelope import JSON
from crossdock.runtime.plan import FlowPlan
from crossdock.runtime.preview import FlowPreview, preview


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the journal says the message became the last time it was processed."""

    outputs: dict[str, JSON] = field(default_factory=dict)  # target → body sent
    unrecorded: tuple[str, ...] = ()  # targets mapped without a recorded body
    filtered: str | None = None
    error: str | None = None
    processed: bool = False

    def outcome(self) -> str:
        if not self.processed:
            return "not processed yet"
        if self.error is not None:
            return f"failed: {self.error}"
        if self.filtered is not None:
            return f"filtered ({self.filtered})"
        return "mapped for " + (", ".join([*self.outputs, *self.unrecorded]) or "no target")


def recorded(journey: Journey) -> Recorded:
    """The outcome of the message's last pass through the processor."""
    outputs: dict[str, JSON] = {}
    unrecorded: list[str] = []
    filtered = error = None
    processed = False
    for entry in journey.entries:
        if entry.step in (Step.ROUTED, Step.FILTERED) or (
            entry.step is Step.PARKED and entry.destination == INTAKE
        ):
            outputs, unrecorded, filtered, error, processed = {}, [], None, None, True
        if entry.step is Step.FILTERED:
            filtered = str(entry.detail.get("rule", "a rule"))
        elif entry.step is Step.PARKED and entry.destination == INTAKE:
            error = str(entry.detail.get("error", "parked"))
        elif entry.step is Step.MAPPED and entry.destination is not None:
            if entry.payload is None:
                unrecorded.append(entry.destination)
            else:
                outputs[entry.destination] = entry.payload
    return Recorded(outputs, tuple(unrecorded), filtered, error, processed)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One message: before (recorded) and after (the new flow), and what differs."""

    message_id: str
    received_at: float
    before: Recorded
    after: FlowPreview
    changes: dict[str, list[Change]]  # target → changes, recorded → new
    gained: tuple[str, ...]  # targets that would now receive it
    lost: tuple[str, ...]  # targets that would no longer receive it
    outcome: tuple[str, str] | None  # (recorded, new) outcome when its kind changes

    @property
    def comparable(self) -> bool:
        return self.before.processed and not self.before.unrecorded

    @property
    def changed(self) -> bool:
        return bool(self.outcome or self.gained or self.lost or any(self.changes.values()))


def compare(journey: Journey, flow: FlowPlan) -> Comparison:
    before = recorded(journey)
    after = preview(flow, journey.message.body, source=journey.message.source)
    now = after.outputs()
    changes = {
        target: diff(body, now[target]) for target, body in before.outputs.items() if target in now
    }
    was = set(before.outputs) | set(before.unrecorded)
    gained = tuple(t for t in now if t not in was)
    lost = tuple(t for t in before.outputs if t not in now)
    old, new = before.outcome(), _outcome(after)
    kind_changed = kind(old) != kind(new) or (
        before.error is not None and before.error != after.error
    )
    return Comparison(
        message_id=journey.summary.id,
        received_at=journey.summary.received_at,
        before=before,
        after=after,
        changes=changes,
        gained=gained,
        lost=lost,
        outcome=(old, new) if before.processed and kind_changed else None,
    )


def kind(outcome: str) -> str:
    """``failed``, ``filtered``, ``mapped`` or ``not processed`` from an outcome's text."""
    for word in ("failed", "filtered", "mapped"):
        if outcome.startswith(word):
            return word
    return "not processed"


def _outcome(after: FlowPreview) -> str:
    if after.error is not None:
        return f"failed: {after.error}"
    if after.filtered is not None:
        return f"filtered ({after.filtered})"
    return "mapped for " + (", ".join(after.outputs()) or "no target")


@dataclass(slots=True)
class Summary:
    """Totals over many comparisons: how many changed, and which fields how often."""

    examined: int = 0
    changed: int = 0
    incomparable: int = 0  # not processed yet, or mapped without a recorded body
    failing: int = 0  # would now park with a mapping error
    fields: Counter[str] = field(default_factory=Counter)  # "target: path" → messages
    gained: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # "filtered → mapped" → messages

    def add(self, c: Comparison) -> None:
        self.examined += 1
        if c.after.error is not None:
            self.failing += 1
        if not c.comparable:
            self.incomparable += 1
        if not c.changed:
            return
        self.changed += 1
        for target, changes in c.changes.items():
            self.fields.update({f"{target}: {change.path}" for change in changes})
        self.gained.update(c.gained)
        self.lost.update(c.lost)
        if c.outcome is not None:
            self.outcomes[f"{kind(c.outcome[0])} → {kind(c.outcome[1])}"] += 1
