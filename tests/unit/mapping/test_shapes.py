"""Random canonical tickets go out to each example shape and back without loss on the
fields both sides support (as each shape's `lossless` section declares)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from mapping_strategies import tickets

from crossdock.config.rules import MappingSpec, compile_mapping
from crossdock.core.canonical import ExternalRef, Ticket
from crossdock.core.rules import Mapping

SHAPES = Path(__file__).parents[3] / "examples" / "mappings"
NAMES = sorted(p.stem for p in SHAPES.glob("*.yaml"))


def load(name: str) -> tuple[Mapping, Mapping, dict[str, Any]]:
    data = yaml.safe_load((SHAPES / f"{name}.yaml").read_text(encoding="utf-8"))
    out = compile_mapping(MappingSpec.model_validate(data["from_canonical"]))
    back = compile_mapping(MappingSpec.model_validate(data["to_canonical"]))
    return out, back, data["lossless"]


def test_there_are_at_least_two_shapes() -> None:
    assert {"jira", "zendesk"} <= set(NAMES)


def values_at(node: Any, parts: Sequence[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(concrete path, value) for a path whose `*` parts range over a list."""
    if not parts:
        yield prefix, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        for index, item in enumerate(node or ()):
            yield from values_at(item, rest, f"{prefix}{index}.")
        return
    if isinstance(node, dict):
        child = node.get(head)
    elif isinstance(node, list | tuple) and head.isdigit() and int(head) < len(node):
        child = node[int(head)]
    else:
        child = None
    yield from values_at(child, rest, f"{prefix}{head}.")


def instant(value: Any) -> Any:
    """Datetimes compared as instants (Python calls a time in a DST gap unequal to any
    time of another zone, even to the same instant)."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def applies(rule: Any, value: Any) -> bool:
    if rule == "any":
        return True
    if rule == "numeric":
        return value is None or (isinstance(value, str) and value.isdigit())
    if rule == "short":
        return value is None or len(value) <= 255
    return value is None or value in rule


def round_trip(name: str, ticket: Ticket) -> Ticket:
    out, back, _ = load(name)
    shaped = orjson.loads(orjson.dumps(out.apply(ticket.model_dump(mode="json"))))
    return Ticket.model_validate(back.apply(shaped))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticket=tickets())
def test_out_and_back_keeps_what_both_sides_support(name: str, ticket: Ticket) -> None:
    result = round_trip(name, ticket)
    before, after = ticket.model_dump(), result.model_dump()
    for path, rule in load(name)[2].items():
        parts = path.split(".")
        expected = dict(values_at(before, parts))
        got = dict(values_at(after, parts))
        for where, value in expected.items():
            if applies(rule, value):
                assert instant(got.get(where)) == instant(value), f"{name}: {where}"


def test_a_lossy_value_maps_to_its_nearest_equivalent() -> None:
    zendesk = ExternalRef(id="4711")
    ticket = Ticket(
        external={"zendesk": zendesk}, status="in_progress", priority="planning", type="change"
    )
    result = round_trip("zendesk", ticket)
    assert (result.status, result.priority, result.type) == ("open", "low", "task")
