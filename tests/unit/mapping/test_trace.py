"""`Mapping.trace`: how every field got its value, and the same output as `apply`."""

from __future__ import annotations

from typing import Any

import pytest

from crossdock.config.rules import MappingSpec, compile_mapping
from crossdock.core.rules import FieldTrace, Mapping, MappingError


def mapping(spec: dict[str, Any]) -> Mapping:
    return compile_mapping(MappingSpec.model_validate(spec))


def by_field(fields: tuple[FieldTrace, ...]) -> dict[str, FieldTrace]:
    return {f.field: f for f in fields}


def test_every_step_of_a_field_is_recorded() -> None:
    m = mapping(
        {
            "fields": {
                "priority": {
                    "from": "ticket.priority",
                    "transform": ["trim", "lower"],
                    "map": {"gold": "high"},
                },
                "source": {"value": "shop"},
                "note": {"from": "ticket.note", "default": "none"},
                "gone": {"from": "ticket.nothing"},
                "vip": {"from": "ticket.vip", "when": [{"path": "ticket.tier", "equals": "x"}]},
            }
        }
    )
    trace = m.trace({"ticket": {"priority": " Gold ", "note": None, "vip": True}})
    fields = by_field(trace.fields)
    assert fields["priority"].steps == (
        ("read", " Gold "),
        ("trim", "Gold"),
        ("lower", "gold"),
        ("map", "high"),
    )
    assert fields["priority"].origin == "ticket.priority"
    assert (fields["priority"].outcome, fields["priority"].result) == ("set", "high")
    assert fields["source"].steps == (("value", "shop"),)
    assert fields["source"].origin == "constant"
    assert fields["note"].steps == (("read", None), ("default", "none"))
    assert fields["gone"].outcome == "left out"
    assert fields["vip"].outcome == "skipped"
    assert fields["vip"].steps == (("skipped", "when ticket.tier equals 'x'"),)
    assert trace.output == {"priority": "high", "source": "shop", "note": "none"}
    assert trace.error is None


def test_a_failing_field_ends_the_trace_with_its_error() -> None:
    m = mapping(
        {
            "fields": {
                "a": "x",
                "b": {"from": "y", "map": {"1": "one"}},
                "c": "z",
            }
        }
    )
    trace = m.trace({"x": 1, "y": 7, "z": 3})
    assert trace.output is None
    assert isinstance(trace.error, MappingError)
    assert [f.field for f in trace.fields] == ["a", "b"]
    failed = trace.fields[-1]
    assert failed.outcome == "failed"
    assert failed.steps == (("read", 7),)
    assert failed.error == "field b from y: no entry in the value map (value 7)"


def test_keep_paths_and_pass_through_are_traced() -> None:
    kept = mapping({"keep": ["a.b", "missing"], "fields": {"c": "a.b"}}).trace({"a": {"b": 2}})
    fields = by_field(kept.fields)
    assert (fields["a.b"].outcome, fields["a.b"].result) == ("kept", 2)
    assert fields["missing"].outcome == "absent"
    assert kept.output == {"a": {"b": 2}, "c": 2}
    passed = mapping({}).trace({"any": "thing"})
    assert passed.output == {"any": "thing"}
    assert [f.outcome for f in passed.fields] == ["set"]


def test_each_records_the_mapped_list() -> None:
    m = mapping({"fields": {"items": {"each": {"from": "lines", "fields": {"n": "qty"}}}}})
    trace = m.trace({"lines": [{"qty": 1}, {"qty": 2}]})
    assert trace.fields[0].steps == (("each", [{"n": 1}, {"n": 2}]),)
    assert trace.output == {"items": [{"n": 1}, {"n": 2}]}


@pytest.mark.parametrize(
    "body", [{"x": " A "}, {"x": None}, {}, {"x": ["b", " C"]}, {"x": 5}, {"x": {"y": 1}}]
)
def test_trace_gives_what_apply_gives(body: dict[str, Any]) -> None:
    m = mapping(
        {
            "fields": {
                "a": {"from": "x", "transform": ["trim"], "default": "d"},
                "b": {"template": "<{x}>"},
                "c": {"expr": "x"},
                "d": {"from": "x", "map": {"5": "five"}, "unmapped": "pass"},
            }
        }
    )
    trace = m.trace(body)
    if trace.error is not None:
        with pytest.raises(MappingError) as info:
            m.apply(body)
        assert str(info.value) == str(trace.error)
    else:
        assert trace.output == m.apply(body)
