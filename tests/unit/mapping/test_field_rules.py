"""Field rules: source kinds, the order of steps, nested lists, and located config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crossdock.config import load_config
from crossdock.config.rules import ConditionSpec, MappingSpec, compile_conditions, compile_mapping
from crossdock.core.errors import ConfigError
from crossdock.core.rules import ConditionError, MappingError, first_failing


def apply(spec: dict[str, Any], body: Any) -> Any:
    return compile_mapping(MappingSpec.model_validate(spec)).apply(body)


def test_transforms_run_before_default_and_map() -> None:
    rule = {"from": "p", "transform": ["trim", "lower"], "map": {"high": 1}, "default": 0}
    assert apply({"fields": {"x": rule}}, {"p": " HIGH "}) == {"x": 1}
    assert apply({"fields": {"x": rule}}, {}) == {"x": 0}
    blank = {
        "from": "p",
        "transform": [{"default": {"value": None, "empty": True}}],
        "default": "d",
    }
    assert apply({"fields": {"x": blank}}, {"p": ""}) == {"x": "d"}


def test_a_transform_failure_names_field_path_transform_and_value() -> None:
    with pytest.raises(MappingError) as info:
        apply({"fields": {"n": {"from": "a.b", "transform": ["to_int"]}}}, {"a": {"b": "x1"}})
    assert str(info.value) == "field n from a.b: to_int: not a number (value 'x1')"


def test_long_values_are_cut_in_errors() -> None:
    with pytest.raises(MappingError) as info:
        apply({"fields": {"n": {"from": "a", "transform": ["to_bool"]}}}, {"a": "y" * 5000})
    assert len(str(info.value)) < 400


def test_when_skips_the_field_without_default() -> None:
    rule = {"value": "vip", "when": [{"path": "tier", "equals": "gold"}]}
    assert apply({"fields": {"x": rule}}, {"tier": "gold"}) == {"x": "vip"}
    assert apply({"fields": {"x": rule}}, {"tier": "tin"}) == {}
    rule = {"from": "a", "default": 1, "when": [{"expr": "b"}]}
    assert apply({"fields": {"x": rule}}, {"a": None, "b": False}) == {}


def test_template_fills_placeholders_only() -> None:
    rule = {"template": "{a.b}-{n}-{t}-{missing}|{{a.b}}|{x.__class__}"}
    assert apply({"fields": {"x": rule}}, {"a": {"b": "B"}, "n": 1.5, "t": True}) == {
        "x": "B-1.5-true-|{a.b}|"
    }
    with pytest.raises(MappingError, match=r"placeholder \{a\} is an object"):
        apply({"fields": {"x": {"template": "{a}"}}}, {"a": {"b": 1}})


@pytest.mark.parametrize("template", ["{", "}", "{a b}", "{}", "{0:>10}", "{a!r}x"])
def test_broken_templates_are_config_errors(template: str) -> None:
    if template in ("{0:>10}", "{a!r}x"):  # valid paths in our syntax: literal keys
        compile_mapping(MappingSpec.model_validate({"fields": {"x": {"template": template}}}))
        return
    with pytest.raises(ValueError, match=r"placeholder|stray"):
        MappingSpec.model_validate({"fields": {"x": {"template": template}}})


def test_format_specs_are_not_interpreted() -> None:
    rule = {"template": "{0:>10}{a!r}"}
    assert apply({"fields": {"x": rule}}, {"0:>10": "k", "a!r": "v"}) == {"x": "kv"}


def test_each_maps_items_with_filters_and_names_failing_items() -> None:
    spec = {
        "fields": {
            "out": {
                "each": {
                    "from": "items",
                    "when": [{"path": "skip", "exists": False}],
                    "keep": ["id"],
                    "fields": {"n": {"from": "q", "transform": ["to_int"]}},
                }
            }
        }
    }
    body = {"items": [{"id": 1, "q": "2"}, {"id": 2, "skip": True}, {"id": 3, "q": "4"}]}
    assert apply(spec, body) == {"out": [{"id": 1, "n": 2}, {"id": 3, "n": 4}]}
    body["items"].append({"id": 4, "q": "x"})
    with pytest.raises(MappingError) as info:
        apply(spec, body)
    assert str(info.value) == "field out.3.n from items.3.q: to_int: not a number (value 'x')"
    assert apply(spec, {}) == {}
    with pytest.raises(MappingError, match="each needs a list"):
        apply(spec, {"items": {"a": 1}})


def test_each_is_bounded() -> None:
    spec = {"fields": {"out": {"each": {"from": "items", "max_items": 3, "fields": {"a": "a"}}}}}
    assert apply(spec, {"items": [{"a": 1}] * 3}) == {"out": [{"a": 1}] * 3}
    with pytest.raises(MappingError, match=r"4 items, more than max_items \(3\)"):
        apply(spec, {"items": [{"a": 1}] * 4})
    with pytest.raises(ValueError, match="less than or equal to 10000"):
        MappingSpec.model_validate({"fields": {"o": {"each": {"from": "i", "max_items": 10**6}}}})


def test_nested_each_and_tables_inside_items() -> None:
    spec = {
        "tables": {"t": {"a": "A"}},
        "fields": {
            "rows": {
                "each": {
                    "from": "rows",
                    "fields": {
                        "cells": {
                            "each": {
                                "from": "cells",
                                "fields": {"v": {"from": "v", "transform": [{"lookup": "t"}]}},
                            }
                        }
                    },
                }
            }
        },
    }
    body = {"rows": [{"cells": [{"v": "a"}]}]}
    assert apply(spec, body) == {"rows": [{"cells": [{"v": "A"}]}]}


def test_expr_values_and_conditions() -> None:
    spec = {"fields": {"names": {"expr": "people[?age > `30`].name"}}}
    assert apply(spec, {"people": [{"name": "a", "age": 40}, {"name": "b", "age": 20}]}) == {
        "names": ["a"]
    }
    [condition] = compile_conditions((ConditionSpec.model_validate({"expr": "a == `1`"}),))
    assert first_failing([condition], {"a": 1}) is None
    assert str(first_failing([condition], {"a": 2})) == "expr 'a == `1`'"


def test_an_expression_failing_in_a_condition_raises_a_condition_error() -> None:
    hostile = "s" + " | join('', [@,@])" * 19
    [condition] = compile_conditions((ConditionSpec.model_validate({"expr": hostile}),))
    with pytest.raises(ConditionError, match="grew past"):
        first_failing([condition], {"s": "abcdefgh"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "a", "expr": "a"}, "expr takes no path"),
        ({"equals": 1}, "path is required"),
        ({"expr": "a ||"}, "not a JMESPath expression"),
        ({"expr": "a" * 1001}, "longer than 1000"),
    ],
)
def test_bad_conditions_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConditionSpec.model_validate(spec)


def test_a_field_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one of 'from', 'value', 'template'"):
        MappingSpec.model_validate({"fields": {"x": {"from": "a", "template": "b"}}})


CONFIG = """\
version: 1
endpoints:
  shop: {connector: webhook}
  erp: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  orders:
    source: shop
    targets:
      - endpoint: erp
        mapping:
          tables: {t: {a: b}}
          fields:
            title: {from: a, transform: [trim, {truncate: {max: 0}}]}
            kind: {from: a, transform: [nope]}
            items: {each: {from: i, fields: {x: {expr: "a ||"}}}}
"""


def test_config_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve_secrets=False, env={})
    problems = {p.path: (p.message, p.line) for p in info.value.problems}
    base = "flows.orders.targets[0].mapping.fields"
    assert problems[f"{base}.title.transform[1].truncate.max"][1] == 13
    assert "unknown transform 'nope'" in problems[f"{base}.kind.transform[0]"][0]
    assert "not a JMESPath expression" in problems[f"{base}.items.each.fields.x.expr"][0]
    assert len(problems) == 3


def test_unknown_lookup_tables_are_located(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    text = CONFIG.split("          fields:")[0] + (
        "          fields:\n"
        "            ok: {from: a, transform: [{lookup: t}]}\n"
        "            level: {from: a, transform: [{lookup: missing}]}\n"
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve_secrets=False, env={})
    [problem] = info.value.problems
    assert problem.path == "flows.orders.targets[0].mapping.fields.level.transform[0].lookup.table"
    assert problem.message == "unknown table 'missing' (tables: t)"
    assert problem.line == 14
