"""Hostile configurations are refused at load time or stopped within a second, with a
clear error, and the mapping goes on serving the next message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from crossdock.config.rules import ConditionSpec, MappingSpec, compile_mapping
from crossdock.core.rules import MappingError

BODY = {
    "s": "abcdefgh",
    "xs": list(range(100)),
    "big": ["x" * 1000] * 500,
    "deep": {},
}
_node: dict[str, Any] = BODY["deep"]
for _ in range(900):
    _node["a"] = {}
    _node = _node["a"]


@contextmanager
def within_one_second() -> Iterator[None]:
    """CPU time of this process, so that other work on a shared machine cannot fail it."""
    started = time.process_time()
    yield
    assert time.process_time() - started < 1.0


def doubling(stages: int, base: str = "s", step: str = " | join('', [@,@])") -> str:
    return base + step * stages


RUNTIME_STOPS = [
    (doubling(30), "grew past 1000000"),
    (doubling(18, "xs", " | [@,@]"), "grew past 1000000"),
    (doubling(12, "xs", " | [@,@][]"), "stopped after 250000 steps"),
    ("to_string(" + doubling(19, "xs", " | [@,@]") + ")", "grew past 1000000"),
    ("(" + doubling(12, "xs", " | [@,@]") + ") == (" + doubling(12, "xs", " | [@,@]") + ")", None),
    ("big[*].[@, @, @, @][][].length(@)", "grew past|steps"),
    ("length(big[*].join('', [@, @, @, @, @, @, @, @]))", "grew past|steps"),
    ("&s", "expression reference"),
    ("to_string(&s)", "expression reference"),
    ("deep" + ".a" * 39 + " == deep" + ".a" * 39, None),
]


@pytest.mark.parametrize(("expr", "error"), RUNTIME_STOPS)
def test_hostile_expressions_stop_within_a_second(expr: str, error: str | None) -> None:
    mapping = compile_mapping(MappingSpec.model_validate({"fields": {"x": {"expr": expr}}}))
    with within_one_second():
        if error is None:
            mapping.apply(BODY)
        else:
            with pytest.raises(MappingError, match=error):
                mapping.apply(BODY)
    assert compile_mapping(MappingSpec.model_validate({"fields": {"x": {"expr": "s"}}})).apply(
        BODY
    ) == {"x": "abcdefgh"}  # the next message is served


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("[" * 300 + "s" + "]" * 300, "nested"),
        (doubling(45), "nested deeper than 40"),
        ("a" * 1001, "longer than 1000"),
        ("s.__class__.__init__.__globals__ ||", "not a JMESPath expression"),
    ],
)
def test_hostile_expressions_are_refused_at_load(expr: str, error: str) -> None:
    with within_one_second(), pytest.raises(ValueError, match=error):
        ConditionSpec.model_validate({"expr": expr})


@pytest.mark.parametrize(
    "expr", ["s.__class__", "s.__class__.__mro__", "xs.__len__", '"__class__"', "@.__dict__"]
)
def test_python_internals_are_just_missing_keys(expr: str) -> None:
    mapping = compile_mapping(MappingSpec.model_validate({"fields": {"x": {"expr": expr}}}))
    assert mapping.apply(BODY) == {}


def test_catastrophic_regexes_run_in_linear_time() -> None:
    spec = {"fields": {"x": {"from": "t", "transform": [
        {"regex_replace": {"pattern": "(a+)+$", "replacement": "!"}},
        {"regex_replace": {"pattern": "(a|aa)*c", "replacement": "?"}},
        {"regex_replace": {"pattern": "(.*a){12}", "replacement": "-"}},
    ]}}}  # fmt: skip
    mapping = compile_mapping(MappingSpec.model_validate(spec))
    with within_one_second():
        out = mapping.apply({"t": "a" * 100_000 + "b"})
    assert out["x"].endswith("b")


def test_huge_outputs_are_refused() -> None:
    step = {"regex_replace": {"pattern": "y", "replacement": "x" * 1000}}
    spec = {"fields": {"a": {"from": "t", "transform": [step]}}}
    mapping = compile_mapping(MappingSpec.model_validate(spec))
    with within_one_second(), pytest.raises(MappingError, match="text longer than 1000000"):
        mapping.apply({"t": "y" * 10_000})
    template = {"fields": {"a": {"template": "{t}" * 200}}}
    mapping = compile_mapping(MappingSpec.model_validate(template))
    with within_one_second(), pytest.raises(MappingError, match="longer than 1000000"):
        mapping.apply({"t": "y" * 10_000})


def test_deep_markdown_and_adf_are_refused() -> None:
    nested = "\n".join("  " * depth + "- x" for depth in range(200))
    spec = {"fields": {"a": {"from": "md", "transform": ["markdown_to_adf"]}}}
    mapping = compile_mapping(MappingSpec.model_validate(spec))
    with within_one_second(), pytest.raises(MappingError, match="nested deeper than 20"):
        mapping.apply({"md": nested})
