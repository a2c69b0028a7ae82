"""Conditions and field mappings, compiled from configuration; pure and side-effect free.

A `Condition` tests one path of a body (equals, not_equals, in, exists); a flow or a
route holds when all of its conditions hold. A `Mapping` builds a target's body from a
source body: kept paths (select), fields from source paths (rename), constants and value
maps with an explicit policy for unmapped values.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crossdock.core.envelope import JSON
from crossdock.core.errors import PermanentError
from crossdock.core.paths import MISSING, get_path, set_path, split_path


class Op(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    EXISTS = "exists"


@dataclass(frozen=True, slots=True)
class Condition:
    path: str
    op: Op
    operand: Any
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", split_path(self.path))

    def holds(self, body: JSON) -> bool:
        value = get_path(body, self._parts)
        if self.op is Op.EXISTS:
            return (value is not MISSING) == bool(self.operand)
        if value is MISSING:
            return self.op is Op.NOT_EQUALS
        if self.op is Op.EQUALS:
            return bool(value == self.operand)
        if self.op is Op.NOT_EQUALS:
            return bool(value != self.operand)
        return value in self.operand

    def __str__(self) -> str:
        return f"{self.path} {self.op.value} {self.operand!r}"


def first_failing(conditions: Sequence[Condition], body: JSON) -> Condition | None:
    """The first condition that does not hold, or None when all hold."""
    for condition in conditions:
        if not condition.holds(body):
            return condition
    return None


class MappingError(PermanentError):
    """A body could not be mapped; the message names the field, path and value."""

    def __init__(self, field_name: str, path: str | None, value: JSON, reason: str) -> None:
        self.field_name = field_name
        self.path = path
        self.value = value
        where = f" from {path}" if path else ""
        super().__init__(f"field {field_name}{where}: {reason} (value {value!r})")


class Unmapped(StrEnum):
    ERROR = "error"  # park the message
    DEFAULT = "default"  # use the field's default
    PASS = "pass"  # keep the value as it is


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Target field ← a source path or a constant, optionally through a value map."""

    target: str
    source: str | None = None
    constant: JSON = None
    values: MappingABC[str, JSON] | None = None
    unmapped: Unmapped = Unmapped.ERROR
    default: JSON = None
    has_default: bool = False
    required: bool = False
    _source_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _target_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_source_parts", split_path(self.source or ""))
        object.__setattr__(self, "_target_parts", split_path(self.target))

    def apply(self, body: JSON, out: dict[str, JSON]) -> None:
        if self.source is None:
            set_path(out, self._target_parts, self.constant)
            return
        value = get_path(body, self._source_parts)
        if value is MISSING or value is None:
            if self.has_default:
                set_path(out, self._target_parts, self.default)
            elif self.required:
                raise MappingError(self.target, self.source, None, "required but missing")
            return
        if self.values is not None:
            value = self._translate(value)
        set_path(out, self._target_parts, value)

    def _translate(self, value: JSON) -> JSON:
        if isinstance(value, (dict, list)):
            raise MappingError(self.target, self.source, value, "a value map needs a scalar")
        lookup = _map_key(value)
        assert self.values is not None
        if lookup in self.values:
            return self.values[lookup]
        if self.unmapped is Unmapped.PASS:
            return value
        if self.unmapped is Unmapped.DEFAULT:
            return self.default
        raise MappingError(self.target, self.source, value, "no entry in the value map")


def _map_key(value: JSON) -> str:
    """Value-map keys are strings: true/false/null as in JSON, numbers as written."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True, slots=True)
class Mapping:
    """Builds a target body. With neither keep nor fields, the body passes through as is."""

    keep: tuple[str, ...] = ()
    fields: tuple[FieldRule, ...] = ()

    def apply(self, body: JSON) -> JSON:
        if not self.keep and not self.fields:
            return body
        out: dict[str, JSON] = {}
        for path in self.keep:
            parts = split_path(path)
            value = get_path(body, parts)
            if value is not MISSING:
                set_path(out, parts, value)
        for rule in self.fields:
            rule.apply(body, out)
        return out
