"""Turn pydantic validation errors into located `ConfigProblem`s.

A pydantic error has a `loc` (keys and indexes, plus the tag of a discriminated union,
e.g. ``("endpoints", "erp", "http", "settings", "timeout")``). The loc is walked through
the document's data to find the path the user wrote and its position:

- the value's position for a wrong value; the key's position for an unknown key;
- for a missing key, the nearest existing ancestor (its key if it has one).

Messages never include pydantic's `input`: a value shown in a message is taken from the
document and, for a string holding a reference, is the reference as written. Values of
mappings and lists are described by kind only, since a misplaced secret may be in them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import ErrorDetails

from crossdock.config._paths import PathKey, render_path
from crossdock.config._references import source_text
from crossdock.config._yaml import Entry, Position, problem_at
from crossdock.config.types import PATTERN_HINTS
from crossdock.core.errors import ConfigProblem

#: Long form -> shorthand accepted in its place (``source: x`` for ``sources: [x]``).
_SHORTHANDS: dict[str | int, str] = {"sources": "source"}
_MISSING = object()


@dataclass
class _Found:
    """What a loc designates in the document."""

    shown: list[str | int] = field(default_factory=list)  # the path as the user sees it
    path: PathKey = ()  # the deepest path that exists in the document
    exists: bool = True  # the whole loc exists
    at_key: bool = False  # the error is about the key itself (unknown key, bad name)
    value: Any = _MISSING


def problems_from_errors(
    errors: Iterable[ErrorDetails], data: Any, entries: dict[PathKey, Entry]
) -> list[ConfigProblem]:
    """One located ConfigProblem per pydantic error, but for derived length errors."""
    errors = list(errors)
    return [_problem(e, data, entries) for e in errors if not _follows_from_items(e, errors)]


def _follows_from_items(error: ErrorDetails, errors: Sequence[ErrorDetails]) -> bool:
    """A list is "too short" only because its invalid items were dropped: say nothing."""
    if error["type"] != "too_short":
        return False
    loc = error["loc"]
    return any(len(e["loc"]) > len(loc) and e["loc"][: len(loc)] == loc for e in errors)


def _problem(error: ErrorDetails, data: Any, entries: dict[PathKey, Entry]) -> ConfigProblem:
    kind = error["type"]
    loc: list[str | int] = list(error["loc"])
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc.append(_discriminator(error))
    found = _walk(loc, data, missing=kind in ("missing", "union_tag_not_found"))
    if kind == "extra_forbidden":
        found.at_key = True
    return problem_at(render_path(found.shown), _message(error, found), _position(found, entries))


def _discriminator(error: ErrorDetails) -> str:
    return str(error.get("ctx", {}).get("discriminator", "type")).strip("'")


def _walk(loc: Sequence[str | int], data: Any, *, missing: bool) -> _Found:
    """Follow `loc` through `data`, skipping union tags and mapping shorthands."""
    found, node, skip_index = _Found(), data, False
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if part == "[key]":  # the error is about the key just walked, not its value
            found.at_key = True
            node = found.path[-1] if found.path else node
        elif skip_index and part == 0:
            skip_index = False
        elif not found.exists:
            found.shown.append(part)
        elif isinstance(node, dict) and part in node:
            node = _descend(found, node[part], part)
        elif isinstance(node, dict) and part in _SHORTHANDS and _SHORTHANDS[part] in node:
            node = _descend(found, node[_SHORTHANDS[part]], _SHORTHANDS[part])
            skip_index = not isinstance(node, list)
        elif isinstance(node, dict) and _is_tag(node, part, last=last, missing=missing):
            continue
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = _descend(found, node[part], part)
        else:
            found.exists = False
            found.shown.append(part)
    found.value = node if found.exists else _MISSING
    return found


def _descend(found: _Found, node: Any, part: str | int) -> Any:
    found.shown.append(part)
    found.path = (*found.path, part)
    return node


def _is_tag(node: dict[str, Any], part: str | int, *, last: bool, missing: bool) -> bool:
    """A discriminated union's tag: the value of one of the mapping's keys, not a key."""
    if last and missing:  # a missing key ends the loc; it is never a tag
        return False
    return isinstance(part, str) and any(
        isinstance(value, str) and value == part for value in node.values()
    )


def _position(found: _Found, entries: dict[PathKey, Entry]) -> Position:
    entry = entries.get(found.path) or entries[()]
    if not found.exists or found.at_key or isinstance(found.value, dict | list):
        return entry.anchor
    return entry.value


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "path_type": "a path",
}
_EXPECTED_CONTAINER = {
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}
_BOUNDS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
}


def _message(error: ErrorDetails, found: _Found) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in ("missing", "union_tag_not_found"):
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "union_tag_invalid":
        known = ", ".join(tag.strip().strip("'") for tag in str(ctx["expected_tags"]).split(","))
        return f"unknown {_discriminator(error)} {_show(found.value)}; known: {known}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(found.value)}"
    if kind in _EXPECTED_CONTAINER:
        return f"expected {_EXPECTED_CONTAINER[kind]}, got {_kind(found.value)}"
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**{k: _number(v) for k, v in ctx.items()})
    return _other_message(error, found)


def _other_message(error: ErrorDetails, found: _Found) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {_show(found.value)}"
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(str(ctx["pattern"]), f"must match {ctx['pattern']}")
        return f"{hint}, got {_show(found.value)}"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s)"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _number(value: Any) -> Any:
    """1.0 -> 1: bounds read as the user would write them."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _show(value: Any) -> str:
    """A scalar as the user wrote it (a reference, never what it resolved to)."""
    if value is _MISSING:
        return "nothing"
    if isinstance(value, str):
        text = source_text(value)
        return json.dumps(text if len(text) <= 60 else text[:57] + "...")
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _kind(value)


def _kind(value: Any) -> str:
    """The kind of a value, without the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else "a value"
