"""The canonical model: exact JSON round trip, strict keys, zones required."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from mapping_strategies import tickets
from pydantic import ValidationError

from crossdock.core.canonical import CANONICAL_VERSION, Priority, Status, Ticket


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets())
def test_json_round_trip_is_exact(ticket: Ticket) -> None:
    text = ticket.model_dump_json()
    again = Ticket.model_validate_json(text)
    assert again.model_dump_json() == text
    assert again.model_dump(mode="json") == ticket.model_dump(mode="json")


def test_enumerations_are_the_documented_ones() -> None:
    assert [s.value for s in Status] == [
        "new", "open", "in_progress", "pending", "on_hold", "resolved", "closed", "canceled",
    ]  # fmt: skip
    assert [p.value for p in Priority] == ["critical", "high", "medium", "low", "planning"]
    assert Ticket().version == CANONICAL_VERSION == "1"


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Ticket.model_validate({"titel": "typo"})


def test_timestamps_need_a_zone() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Ticket(created=datetime(2024, 1, 1, 10, 0))


def test_tickets_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        Ticket().title = "x"  # type: ignore[misc]


def test_offsets_survive_the_round_trip() -> None:
    ticket = Ticket.model_validate({"created": "2024-03-31T14:30:00+02:00"})
    assert ticket.model_dump(mode="json")["created"] == "2024-03-31T14:30:00+02:00"
