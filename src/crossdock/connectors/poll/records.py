"""From the records one poll listed to the messages it stores and the cursor after them.

Pure functions, no I/O. The cursor is kept in the store as::

    {"value": "2025-03-01T10:00:00Z", "seen": ["T-17", "T-18"]}

``value`` is the largest cursor field value stored so far; ``seen`` names the records
already stored *at exactly that value*. The service is asked for records at or after
``value`` (an inclusive filter, so a record written later with the same timestamp is not
missed), and the records it repeats from the boundary are recognised by ``seen`` and
skipped. A record is named by its ``record_key`` value, or else by a digest of its content.

Records below the cursor are skipped too: they were passed already (a service that
ignores the cursor parameter would otherwise have everything stored again on each poll).
A record without a usable cursor value (absent, null, not a string or number) is stored
and does not move the cursor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key

import orjson

from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import PermanentError
from crossdock.core.paths import MISSING, get_path

__all__ = [
    "CursorState",
    "FlowKey",
    "MalformedAnswer",
    "Selection",
    "build_messages",
    "record_identity",
    "select_records",
]

CursorValue = str | int | float


class MalformedAnswer(PermanentError):
    """The service answered something the poll cannot use (not JSON, no list of records,
    cursor values of mixed kinds). Nothing of that poll is stored."""


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where the last committed poll left off."""

    value: CursorValue | None
    seen: frozenset[str] = frozenset()

    @classmethod
    def load(cls, stored: JSON | None, initial: CursorValue | None) -> CursorState:
        """The state from `Backend.get_cursor` (None: never polled: start at ``initial``)."""
        if stored is None:
            return cls(initial)
        if isinstance(stored, dict):
            seen = stored.get("seen") or []
            return cls(_usable(stored.get("value")), frozenset(str(s) for s in seen))
        return cls(_usable(stored))

    def to_json(self) -> JSON:
        return {"value": self.value, "seen": sorted(self.seen)}


@dataclass(frozen=True, slots=True)
class Selection:
    """The records to store (in cursor order), the cursor after them, and what was left."""

    records: list[JSON]
    cursor: CursorState
    skipped: int  # already stored: below the cursor, seen at it, or repeated in this poll
    without_cursor: int  # stored, but without a usable cursor value


def _usable(value: JSON) -> CursorValue | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return value


def record_identity(record: JSON, key: tuple[str, ...] | None) -> str:
    """The record's ``record_key`` value as text, else ``#`` and a digest of its content."""
    if key is not None:
        value = get_path(record, key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "#" + digest[:32]


def _compare(a: CursorValue, b: CursorValue) -> int:
    """-1, 0 or 1; text with text, numbers with numbers, anything else is malformed."""
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if not isinstance(a, str) and not isinstance(b, str):
        return (a > b) - (a < b)
    raise MalformedAnswer("the cursor field holds both text and numbers; cannot order them")


@dataclass(frozen=True, slots=True)
class _Entry:
    value: CursorValue | None
    record: JSON
    identity: str


def select_records(
    records: Sequence[JSON],
    state: CursorState,
    *,
    field: tuple[str, ...] | None,
    key: tuple[str, ...] | None,
) -> Selection:
    """The records of one poll not stored before, and the cursor that follows them.

    Without ``field`` (no cursor configured) every record is new; only exact repeats
    within this poll (the same record on two pages) are dropped. Raises `MalformedAnswer`
    if cursor values of text and numbers meet.
    """
    entries = [
        _Entry(
            None if field is None else _usable(get_path(record, field)),
            record,
            record_identity(record, key),
        )
        for record in records
    ]
    kept = _new_entries(entries, state)
    skipped = len(entries) - len(kept)
    if field is None:
        return Selection([e.record for e in kept], state, skipped, 0)
    return Selection(
        records=[e.record for e in _in_cursor_order(kept)],
        cursor=_next_state(state, kept),
        skipped=skipped,
        without_cursor=sum(e.value is None for e in kept),
    )


def _new_entries(entries: Sequence[_Entry], state: CursorState) -> list[_Entry]:
    """Entries past the cursor (or at it and not seen), each record version once."""
    kept: list[_Entry] = []
    in_this_poll: set[tuple[str, bytes]] = set()
    for entry in entries:
        if entry.value is not None and state.value is not None:
            order = _compare(entry.value, state.value)
            if order < 0 or (order == 0 and entry.identity in state.seen):
                continue
        marker = (entry.identity, orjson.dumps(entry.value))
        if marker not in in_this_poll:
            in_this_poll.add(marker)
            kept.append(entry)
    return kept


def _value_order(a: _Entry, b: _Entry) -> int:
    assert a.value is not None
    assert b.value is not None
    return _compare(a.value, b.value)


def _in_cursor_order(kept: Sequence[_Entry]) -> list[_Entry]:
    """Entries without a cursor value first (as listed), then by value (stable)."""
    without = [e for e in kept if e.value is None]
    valued = sorted((e for e in kept if e.value is not None), key=cmp_to_key(_value_order))
    return [*without, *valued]


def _next_state(state: CursorState, kept: Sequence[_Entry]) -> CursorState:
    values = [e.value for e in kept if e.value is not None]
    if not values:
        return state
    top = max(values, key=cmp_to_key(_compare))
    at_top = {e.identity for e in kept if e.value is not None and _compare(e.value, top) == 0}
    if state.value is not None and _compare(top, state.value) == 0:
        return CursorState(state.value, state.seen | at_top)
    return CursorState(top, frozenset(at_top))


@dataclass(frozen=True, slots=True)
class FlowKey:
    """A flow fed by the polled endpoint, and its key path (None: the record key)."""

    flow: str
    key: tuple[str, ...] | None


def _key_text(record: JSON, path: tuple[str, ...] | None) -> str | None:
    if path is None:
        return None
    value = get_path(record, path)
    if value is MISSING or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    # A key cannot hold NUL (see Message); the same record keeps the same key.
    return str(value).replace("\x00", "\ufffd")


def build_messages(
    records: Sequence[JSON],
    flows: Sequence[FlowKey],
    *,
    source: str,
    event_type: str,
    record_key: tuple[str, ...] | None,
    received_at: float,
) -> list[Message]:
    """One message per record per flow; the key from the flow's key path, else the
    record's ``record_key``, else none (a lane of its own)."""
    return [
        Message.new(
            flow=flow.flow,
            source=source,
            event_type=event_type,
            body=record,
            key=_key_text(record, flow.key) or _key_text(record, record_key),
            received_at=received_at,
        )
        for record in records
        for flow in flows
    ]
