"""Every example in docs/mapping.md runs and gives the output (or error) it shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from crossdock.config.rules import MappingSpec, compile_mapping
from crossdock.core.rules import MappingError
from crossdock.core.transforms import registered

DOC = (Path(__file__).parents[3] / "docs" / "mapping.md").read_text(encoding="utf-8")
EXAMPLES = [
    yaml.safe_load(block)
    for block in re.findall(r"^```yaml\n(.*?)^```$", DOC, flags=re.DOTALL | re.MULTILINE)
    if block.startswith("mapping:")
]


@pytest.mark.parametrize("example", EXAMPLES, ids=range(len(EXAMPLES)))
def test_example(example: dict[str, Any]) -> None:
    mapping = compile_mapping(MappingSpec.model_validate(example["mapping"]))
    if "error" in example:
        with pytest.raises(MappingError) as info:
            mapping.apply(example["input"])
        assert example["error"] in str(info.value)
    else:
        assert mapping.apply(example["input"]) == example["output"]


def used_transforms(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for step in node.get("transform", []):
            found.add(step if isinstance(step, str) else next(iter(step)))
        for value in node.values():
            found |= used_transforms(value)
    elif isinstance(node, list):
        for value in node:
            found |= used_transforms(value)
    return found


def test_every_transform_has_an_example() -> None:
    shown = set().union(*(used_transforms(e["mapping"]) for e in EXAMPLES))
    assert set(registered()) - shown == set()


def test_every_transform_has_a_heading() -> None:
    headings = " ".join(re.findall(r"^### (.*)$", DOC, flags=re.MULTILINE))
    assert {name for name in registered() if f"`{name}`" not in headings} == set()


@pytest.mark.parametrize("example", EXAMPLES, ids=range(len(EXAMPLES)))
def test_trace_agrees_with_apply(example: dict[str, Any]) -> None:
    mapping = compile_mapping(MappingSpec.model_validate(example["mapping"]))
    trace = mapping.trace(example["input"])
    if "error" in example:
        assert trace.output is None
        assert trace.error is not None
        assert example["error"] in str(trace.error)
        assert trace.fields[-1].outcome == "failed"
    else:
        assert trace.error is None
        assert trace.output == example["output"]
