"""The envelope: exact round trips, time-ordered ids, and a frozen Message."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.core.envelope import JSON, Message, new_message_id

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values: st.SearchStrategy[JSON] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
messages = st.builds(
    Message,
    id=st.one_of(st.builds(new_message_id), st.text(min_size=1)),
    flow=st.text(),
    source=st.text(),
    event_type=st.text(),
    key=st.text(),
    body=json_values,
    headers=st.dictionaries(st.text(), st.text(), max_size=5),
    received_at=st.floats(allow_nan=False, allow_infinity=False),
    attempt=st.integers(min_value=0, max_value=2**31),
    correlation_id=st.none() | st.text(),
)


def exactly(m: Message) -> str:
    """A form in which 1 != True, 0.0 != -0.0 and key order counts."""
    return repr((m.to_dict(), type(m.headers).__name__))


@given(messages)
def test_bytes_round_trip_exactly(m: Message) -> None:
    raw = m.to_bytes()
    back = Message.from_bytes(raw)
    assert back == m
    assert exactly(back) == exactly(m)
    assert back.to_bytes() == raw


@given(messages)
def test_dict_round_trip_exactly(m: Message) -> None:
    back = Message.from_dict(m.to_dict())
    assert back == m
    assert exactly(back) == exactly(m)


# A key holds no NUL: Message.new refuses one (tests/contract/test_backend_delivery.py).
KEYS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


@given(json_values, st.text(), st.none() | KEYS)
def test_new_messages_get_an_id_and_a_lane(body: JSON, flow: str, key: str | None) -> None:
    m = Message.new(flow=flow, source="shop", event_type="order.created", body=body, key=key)
    assert m.key == (m.id if key is None else key)
    assert m.attempt == 0
    assert Message.from_bytes(m.to_bytes()) == m


def test_ids_are_uuid7_and_sort_in_creation_order() -> None:
    before = time.time()
    ids = [new_message_id() for _ in range(20_000)]
    after = time.time()
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for text in (ids[0], ids[-1]):
        u = uuid.UUID(text)
        assert str(u) == text  # canonical text form
        assert (u.version, u.variant) == (7, uuid.RFC_4122)
        millis = int(u.hex[:12], 16)
        assert int(before * 1000) - 1 <= millis <= int(after * 1000) + 1


def test_ids_made_later_sort_later() -> None:
    first = new_message_id()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # bounded poll until the millisecond moves on
        later = new_message_id()
        if uuid.UUID(later).hex[:12] != uuid.UUID(first).hex[:12]:
            break
    assert first < later


def test_message_is_frozen() -> None:
    headers = {"x-trace": "abc"}
    m = Message.new(flow="f", source="s", event_type="e", body={"a": 1}, headers=headers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.attempt = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.headers["x-trace"] = "changed"  # type: ignore[index]
    headers["x-trace"] = "changed"  # the caller's dict is not shared
    assert m.headers == {"x-trace": "abc"}
    retried = m.with_attempt(2)
    assert (m.attempt, retried.attempt) == (0, 2)
    assert retried.id == m.id
