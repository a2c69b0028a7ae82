"""Message keys of polled records."""

from __future__ import annotations

from crossdock.connectors.poll.records import FlowKey, build_messages


def test_a_nul_in_a_polled_key_becomes_a_replacement_character() -> None:
    records = [{"id": "a\x00b", "n": 1}, {"id": "a\x00b", "n": 2}, {"id": 7, "n": 3}]
    messages = build_messages(
        records,
        [FlowKey("tickets", ("id",))],
        source="desk",
        event_type="ticket.updated",
        record_key=None,
        received_at=0.0,
    )
    assert [m.key for m in messages] == ["a\ufffdb", "a\ufffdb", "7"]  # one lane, as before
    assert messages[0].body == {"id": "a\x00b", "n": 1}  # the record itself is unchanged
