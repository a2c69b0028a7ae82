"""Conditions and field mappings (select, rename, constants, value maps, policies)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.config.rules import ConditionSpec, MappingSpec, compile_conditions, compile_mapping
from crossdock.core.rules import Condition, Mapping, MappingError, first_failing

BODY = {"order": {"id": 7, "state": "paid", "tier": "gold", "items": [{"sku": "A"}], "note": None}}


def conditions(*specs: dict[str, object]) -> tuple[Condition, ...]:
    return compile_conditions(tuple(ConditionSpec.model_validate(s) for s in specs))


def mapping(spec: dict[str, object]) -> Mapping:
    return compile_mapping(MappingSpec.model_validate(spec))


@pytest.mark.parametrize(
    ("spec", "holds"),
    [
        ({"path": "order.state", "equals": "paid"}, True),
        ({"path": "order.state", "equals": "new"}, False),
        ({"path": "order.state", "not_equals": "new"}, True),
        ({"path": "order.missing", "not_equals": "x"}, True),
        ({"path": "order.tier", "in": ["gold", "silver"]}, True),
        ({"path": "order.tier", "in": ["bronze"]}, False),
        ({"path": "order.items.0.sku", "equals": "A"}, True),
        ({"path": "order.items.1.sku", "exists": True}, False),
        ({"path": "order.note", "exists": True}, True),
        ({"path": "order.nope", "exists": False}, True),
        ({"path": "order.id", "equals": 7}, True),
        ({"path": "order.id", "equals": "7"}, False),
    ],
)
def test_conditions(spec: dict[str, object], holds: bool) -> None:
    assert (first_failing(conditions(spec), BODY) is None) is holds


def test_first_failing_names_the_condition() -> None:
    failing = first_failing(
        conditions(
            {"path": "order.state", "equals": "paid"}, {"path": "order.tier", "equals": "x"}
        ),
        BODY,
    )
    assert str(failing) == "order.tier equals 'x'"


def test_a_condition_needs_exactly_one_operator() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        ConditionSpec.model_validate({"path": "a", "equals": 1, "in": [1]})
    with pytest.raises(ValueError, match="exactly one of"):
        ConditionSpec.model_validate({"path": "a"})


def test_no_mapping_passes_the_body_unchanged() -> None:
    assert compile_mapping(None).apply(BODY) is BODY


def test_select_rename_constant_and_value_map() -> None:
    m = mapping(
        {
            "keep": ["order.id"],
            "fields": {
                "ref": "order.id",
                "currency": {"value": "EUR"},
                "customer.level": {"from": "order.tier", "map": {"gold": "high"}},
                "first_sku": "order.items.0.sku",
            },
        }
    )
    assert m.apply(BODY) == {
        "order": {"id": 7},
        "ref": 7,
        "currency": "EUR",
        "customer": {"level": "high"},
        "first_sku": "A",
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"from": "order.tier", "map": {"silver": "m"}, "unmapped": "pass"}, {"x": "gold"}),
        (
            {"from": "order.tier", "map": {"silver": "m"}, "unmapped": "default", "default": "low"},
            {"x": "low"},
        ),
        ({"from": "order.note", "default": "none given"}, {"x": "none given"}),
        ({"from": "order.nope"}, {}),
        ({"from": "order.id", "map": {"7": "seven"}}, {"x": "seven"}),
    ],
)
def test_value_map_policies_and_defaults(
    rule: dict[str, object], expected: dict[str, object]
) -> None:
    assert mapping({"fields": {"x": rule}}).apply(BODY) == expected


def test_unmapped_value_is_an_error_naming_field_path_and_value() -> None:
    m = mapping({"fields": {"priority": {"from": "order.tier", "map": {"silver": "m"}}}})
    with pytest.raises(MappingError) as info:
        m.apply(BODY)
    assert (
        str(info.value)
        == "field priority from order.tier: no entry in the value map (value 'gold')"
    )


def test_required_field_missing_is_an_error() -> None:
    m = mapping({"fields": {"email": {"from": "order.email", "required": True}}})
    with pytest.raises(MappingError, match=r"field email from order\.email: required but missing"):
        m.apply(BODY)


def test_value_map_refuses_objects() -> None:
    m = mapping({"fields": {"x": {"from": "order.items", "map": {"a": 1}}}})
    with pytest.raises(MappingError, match="needs a scalar"):
        m.apply(BODY)


def test_json_literals_map_by_their_json_text() -> None:
    m = mapping({"fields": {"x": {"from": "flag", "map": {"true": "yes", "false": "no"}}}})
    assert m.apply({"flag": True}) == {"x": "yes"}
    assert m.apply({"flag": False}) == {"x": "no"}


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)


@given(st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=3), json_scalars, max_size=6))
def test_renaming_every_field_and_back_is_lossless(body: dict[str, object]) -> None:
    there = mapping({"fields": {f"t_{k}": k for k in body}})
    back = mapping({"fields": {k: f"t_{k}" for k in body}})
    out = back.apply(there.apply(body))
    assert out == {k: v for k, v in body.items() if v is not None}
