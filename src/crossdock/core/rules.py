"""Conditions and field mappings, compiled from configuration; pure and side-effect free.

A `Condition` tests one path of a body (equals, not_equals, in, exists) or evaluates a
JMESPath expression (expr); a flow or a route holds when all of its conditions hold. A
`Mapping` builds a target's body from a source body: kept paths (select), then field
rules. A field rule takes its value from a source path, a constant, a template, an
expression or a nested list (each), then, in this order:

1. `when`: the field is set only when its conditions hold (tested on the source);
2. the value is read (absent reads as null);
3. `transform`: the steps run in order (null passes through all but default/coalesce);
4. a null result takes the field's `default`, or fails when `required`, or leaves the
   field out;
5. `map`: the value map, with its policy for unmapped values;
6. the value is set at the target path.

Every failure is a `MappingError` naming the field, the source and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from crossdock.core.envelope import JSON
from crossdock.core.errors import PermanentError
from crossdock.core.expressions import Expression, ExpressionError
from crossdock.core.paths import MISSING, get_path, set_path, split_path
from crossdock.core.template import Template, TemplateError
from crossdock.core.transforms import Context, Step, TransformError, map_key, translate
from crossdock.core.transforms import Unmapped as UnmappedPolicy

MAX_EACH_ITEMS = 10_000
"""Most items an `each` rule may be configured to map."""
_SHOWN_VALUE = 200  # characters of a value shown in an error


class Op(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    EXISTS = "exists"
    EXPR = "expr"


@dataclass(frozen=True, slots=True)
class Condition:
    """A test of one path of a body; for `Op.EXPR` the operand is an `Expression` and the
    path is not used."""

    path: str
    op: Op
    operand: Any
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", split_path(self.path))

    def holds(self, body: JSON) -> bool:
        """Whether the condition holds; `ConditionError` if its expression fails."""
        if self.op is Op.EXPR:
            try:
                return bool(self.operand.holds(body))
            except ExpressionError as exc:
                raise ConditionError(str(self), exc.reason) from None
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
        if self.op is Op.EXPR:
            return f"expr {self.operand.text!r}"
        return f"{self.path} {self.op.value} {self.operand!r}"


def first_failing(conditions: Sequence[Condition], body: JSON) -> Condition | None:
    """The first condition that does not hold, or None when all hold."""
    for condition in conditions:
        if not condition.holds(body):
            return condition
    return None


class MappingError(PermanentError):
    """A body could not be mapped; the message names the field, path and value.

    `stage` is set by whoever applied the mapping when it is one of several in a row
    (``to_canonical of zendesk``); the message itself does not include it."""

    def __init__(self, field_name: str, path: str | None, value: JSON, reason: str) -> None:
        self.field_name = field_name
        self.path = path
        self.value = value
        self.reason = reason
        self.stage: str | None = None
        where = f" from {path}" if path else ""
        super().__init__(f"field {field_name}{where}: {reason} (value {_shown(value)})")


class ConditionError(MappingError):
    """A condition's expression could not be evaluated (the message is parked)."""

    def __init__(self, condition: str, reason: str) -> None:
        super().__init__("when", condition, None, reason)


def _shown(value: JSON) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 1] + "…"


class _LeftOut:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LEFT_OUT"


LEFT_OUT: Final = _LeftOut()
"""A field rule's result when the field is not set (its `when` fails or its value is null)."""

Applier = Callable[[Context, dict[str, JSON]], None]
"""Sets one field of a mapped object (the second argument) from a context."""

Traced = tuple[str, JSON]
"""One step of a traced field: what happened (``read``, a transform's name, ``default``,
``map``, ``value``, ``skipped``) and the value after it (for ``skipped``, the reason)."""


@dataclass(frozen=True, slots=True)
class FieldTrace:
    """How one field of a mapping got its value (or why it did not)."""

    field: str
    origin: str
    steps: tuple[Traced, ...]
    outcome: str  # "set", "left out", "skipped", "kept", "absent" or "failed"
    result: JSON = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MappingTrace:
    """A mapping's output (None when it failed), every field's trace in order, and the
    error that stopped it."""

    output: JSON
    fields: tuple[FieldTrace, ...]
    error: MappingError | None = None


class Unmapped(StrEnum):
    ERROR = "error"  # park the message
    DEFAULT = "default"  # use the field's default
    PASS = "pass"  # keep the value as it is


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Target field ← a source path, a constant, a template, an expression or a nested
    list (`each`); then transforms, default / required and a value map (see the module
    docstring for the order)."""

    target: str
    source: str | None = None
    constant: JSON = None
    values: MappingABC[str, JSON] | None = None
    unmapped: Unmapped = Unmapped.ERROR
    default: JSON = None
    has_default: bool = False
    required: bool = False
    template: Template | None = None
    expr: Expression | None = None
    each: EachRule | None = None
    when: tuple[Condition, ...] = ()
    transforms: tuple[Step, ...] = ()
    _source_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _target_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _origin: str | None = field(init=False, repr=False, compare=False)
    apply: Applier = field(init=False, repr=False, compare=False)
    """Set this field in `out` from `context.source` (or leave it out): `resolve` then
    set, compiled once into the shortest path for this rule's kind."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_source_parts", split_path(self.source or ""))
        object.__setattr__(self, "_target_parts", split_path(self.target))
        origin = self.source
        if self.template is not None:
            origin = f"template {self.template.text!r}"
        elif self.expr is not None:
            origin = f"expr {self.expr.text!r}"
        elif self.each is not None:
            origin = self.each.source
        object.__setattr__(self, "_origin", origin)
        object.__setattr__(self, "apply", self._compile())

    def _compile(self) -> Applier:
        target = self._target_parts
        if self.when or self.template is not None or self.expr is not None or self.each:
            return self._apply_any
        if self.source is None:
            constant = self.constant

            def apply_constant(context: Context, out: dict[str, JSON]) -> None:
                set_path(out, target, constant)

            return apply_constant
        return self._compile_path()

    def _compile_path(self) -> Applier:
        """`resolve` for a plain source path (no when, template, expression or each)."""
        source, target, steps, values = (
            self._source_parts,
            self._target_parts,
            self.transforms,
            self.values,
        )
        has_default, default, required, fail = (
            self.has_default,
            self.default,
            self.required,
            self._fail,
        )
        policy: UnmappedPolicy = self.unmapped.value

        def apply_path(context: Context, out: dict[str, JSON]) -> None:
            value = get_path(context.source, source)
            if value is MISSING:
                value = None
            for step in steps:
                try:
                    value = step(value, context)
                except TransformError as exc:
                    raise fail(value, f"{step.name}: {exc.reason}") from None
            if value is None:
                if has_default:
                    set_path(out, target, default)
                elif required:
                    raise fail(None, "required but missing")
                return
            if values is not None:
                try:
                    value = translate(value, values, policy, default, "value map")
                except TransformError as exc:
                    raise fail(value, exc.reason) from None
            set_path(out, target, value)

        return apply_path

    def _fail(self, value: JSON, reason: str) -> MappingError:
        return MappingError(self.target, self._origin, value, reason)

    def _apply_any(self, context: Context, out: dict[str, JSON]) -> None:
        value = self.resolve(context)
        if value is not LEFT_OUT:
            set_path(out, self._target_parts, value)

    @property
    def is_constant(self) -> bool:
        return (
            self.source is None
            and self.template is None
            and self.expr is None
            and (self.each is None)
        )

    def resolve(self, context: Context, steps: list[Traced] | None = None) -> JSON | _LeftOut:
        """This field's value from `context.source`, or `LEFT_OUT`. With `steps`, records
        each value on the way: what was read, each transform's result, default, map."""
        if self.when and not self._holds(context.source):
            if steps is not None:
                steps.append(("skipped", f"when {first_failing(self.when, context.source)}"))
            return LEFT_OUT
        if self.is_constant:
            if steps is not None:
                steps.append(("value", self.constant))
            return self.constant
        value = self._read(context)
        if steps is not None:
            steps.append(("each" if self.each is not None else "read", value))
        for step in self.transforms:
            try:
                value = step(value, context)
            except TransformError as exc:
                reason = f"{step.name}: {exc.reason}"
                raise MappingError(self.target, self._origin, value, reason) from None
            if steps is not None:
                steps.append((step.name, value))
        if value is None:
            if self.has_default:
                if steps is not None:
                    steps.append(("default", self.default))
                return self.default
            if self.required:
                raise MappingError(self.target, self._origin, None, "required but missing")
            return LEFT_OUT
        if self.values is not None:
            value = self._translate(value)
            if steps is not None:
                steps.append(("map", value))
        return value

    @property
    def origin(self) -> str:
        """Where the value comes from: the source path, template, expression or constant."""
        return self._origin if self._origin is not None else "constant"

    def _holds(self, body: JSON) -> bool:
        try:
            return first_failing(self.when, body) is None
        except ConditionError as exc:
            raise MappingError(self.target, exc.path, None, f"when: {exc.reason}") from None

    def _read(self, context: Context) -> JSON:
        body = context.source
        try:
            if self.template is not None:
                return self.template.render(body)
            if self.expr is not None:
                return self.expr.search(body)
        except (TemplateError, ExpressionError) as exc:
            raise MappingError(self.target, self._origin, None, exc.reason) from None
        if self.each is not None:
            return self.each.apply(self.target, context)
        value = get_path(body, self._source_parts)
        return None if value is MISSING else value

    def _translate(self, value: JSON) -> JSON:
        assert self.values is not None
        try:
            return translate(value, self.values, self.unmapped.value, self.default, "value map")
        except TransformError as exc:
            raise MappingError(self.target, self._origin, value, exc.reason) from None


def _map_key(value: JSON) -> str:
    """Value-map keys are strings: true/false/null as in JSON, numbers as written."""
    return map_key(value)


@dataclass(frozen=True, slots=True)
class EachRule:
    """Maps every item of a source list (that meets `when`) with its own mapping."""

    source: str
    mapping: Mapping
    when: tuple[Condition, ...] = ()
    max_items: int = 1000
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", split_path(self.source))

    def apply(self, target: str, context: Context) -> JSON:
        items = get_path(context.source, self._parts)
        if items is MISSING or items is None:
            return None
        if not isinstance(items, list):
            raise MappingError(target, self.source, items, "each needs a list")
        if len(items) > self.max_items:
            reason = f"{len(items)} items, more than max_items ({self.max_items})"
            raise MappingError(target, self.source, None, reason)
        mapped: list[JSON] = []
        for index, item in enumerate(items):
            try:
                if self.when and first_failing(self.when, item) is not None:
                    continue
                mapped.append(self.mapping.apply_in(Context(item, context.tables)))
            except MappingError as exc:
                path = f"{self.source}.{index}" + (f".{exc.path}" if exc.path else "")
                name = f"{target}.{index}.{exc.field_name}"
                raise MappingError(name, path, exc.value, exc.reason) from None
        return mapped


@dataclass(frozen=True, slots=True)
class Mapping:
    """Builds a target body. With neither keep nor fields, the body passes through as is.

    `tables` are the named lookup tables its `lookup` transforms read."""

    keep: tuple[str, ...] = ()
    fields: tuple[FieldRule, ...] = ()
    tables: MappingABC[str, MappingABC[str, JSON]] = field(default_factory=dict)
    _keep_parts: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    _appliers: tuple[Applier, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keep_parts", tuple(split_path(p) for p in self.keep))
        object.__setattr__(self, "_appliers", tuple(rule.apply for rule in self.fields))

    def apply(self, body: JSON) -> JSON:
        if not self.keep and not self.fields:
            return body
        return self.apply_in(Context(body, self.tables))

    def apply_in(self, context: Context) -> dict[str, JSON]:
        """The mapped object, reading from `context.source`."""
        out: dict[str, JSON] = {}
        source = context.source
        for parts in self._keep_parts:
            value = get_path(source, parts)
            if value is not MISSING:
                set_path(out, parts, value)
        for apply in self._appliers:
            apply(context, out)
        return out

    def trace(self, body: JSON) -> MappingTrace:
        """Map `body` like `apply`, recording how every field got its value; a failure
        ends the trace with the failing field rather than raising."""
        if not self.keep and not self.fields:
            passed = FieldTrace("(whole body)", "no mapping: passed as is", (), "set", body)
            return MappingTrace(body, (passed,))
        context = Context(body, self.tables)
        out: dict[str, JSON] = {}
        traces: list[FieldTrace] = []
        for path in self.keep:
            parts = split_path(path)
            value = get_path(body, parts)
            if value is MISSING:
                traces.append(FieldTrace(path, f"keep {path}", (), "absent"))
                continue
            set_path(out, parts, value)
            traces.append(FieldTrace(path, f"keep {path}", (("read", value),), "kept", value))
        for rule in self.fields:
            steps: list[Traced] = []
            try:
                value = rule.resolve(context, steps)
            except MappingError as exc:
                traces.append(
                    FieldTrace(rule.target, rule.origin, tuple(steps), "failed", error=str(exc))
                )
                return MappingTrace(None, tuple(traces), exc)
            if value is LEFT_OUT:
                outcome = "skipped" if steps and steps[0][0] == "skipped" else "left out"
                traces.append(FieldTrace(rule.target, rule.origin, tuple(steps), outcome))
                continue
            set_path(out, split_path(rule.target), value)
            traces.append(FieldTrace(rule.target, rule.origin, tuple(steps), "set", value))
        return MappingTrace(out, tuple(traces))
