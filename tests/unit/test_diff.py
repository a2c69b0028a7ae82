"""`diff`: differences between JSON values, path by path."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crossdock.core.diff import Change, diff
from crossdock.core.paths import MISSING

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


def test_nested_changes_additions_and_removals() -> None:
    before = {"a": 1, "b": {"c": 2, "d": [1, 2, 3]}, "gone": "x"}
    after = {"a": 1, "b": {"c": 3, "d": [1, 5]}, "new": True}
    assert diff(before, after) == [
        Change("b.c", "changed", 2, 3),
        Change("b.d.1", "changed", 2, 5),
        Change("b.d.2", "removed", 3, MISSING),
        Change("gone", "removed", "x", MISSING),
        Change("new", "added", MISSING, True),
    ]


def test_json_equality_not_python_equality() -> None:
    assert diff(1, 1.0) == []
    assert diff(1, True) == [Change("(whole body)", "changed", 1, True)]
    assert diff(0, False) != []
    assert diff({"a": "1"}, {"a": 1}) == [Change("a", "changed", "1", 1)]
    assert diff({"a": {}}, {"a": []}) == [Change("a", "changed", {}, [])]


def test_subset_ignores_what_only_the_second_side_has() -> None:
    assert diff({"a": 1}, {"a": 1, "b": 2}, subset=True) == []
    assert diff({"l": [1]}, {"l": [1, 2]}, subset=True) == []
    assert diff({"a": 1, "c": 3}, {"a": 2}, subset=True) == [
        Change("a", "changed", 1, 2),
        Change("c", "removed", 3, MISSING),
    ]


@given(json_values)
def test_a_value_equals_itself(value: Any) -> None:
    assert diff(value, value) == []


@given(json_values, json_values)
def test_no_difference_only_when_equal(a: Any, b: Any) -> None:
    def strict(x: Any) -> Any:  # JSON equality: True is not 1
        if isinstance(x, dict):
            return {k: strict(v) for k, v in x.items()}
        if isinstance(x, list):
            return [strict(v) for v in x]
        return (type(x) is bool, x)

    assert (diff(a, b) == []) == (strict(a) == strict(b))
