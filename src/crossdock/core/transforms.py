"""Named, pure transforms of field values, with typed arguments; the mapping's toolbox.

A transform is registered once with a pydantic model of its arguments, so the same
declaration validates configuration (unknown names and bad arguments are config errors)
and documents it. At run time a compiled `Step` turns one JSON value into another, or
raises `TransformError` with the reason; the mapping adds the field, path and value.

Bounds: a text longer than `MAX_TEXT` characters or a list longer than `MAX_ITEMS` is
refused as input and as output, so each step's time and memory are linear in a bounded
input. No transform runs user regular expressions except `regex_replace`, which uses
RE2 (linear time, no backtracking). Null passes through a step unchanged (except through
`default` and `coalesce`, which exist for it); a list passes through a scalar transform
item by item.

Custom logic is Python code registered with `register_transform`, never text in
configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic import ValidationError as ValidationError

from crossdock.core.envelope import JSON
from crossdock.core.paths import MISSING, get_path, split_path

__all__ = [
    "MAX_ITEMS",
    "MAX_TEXT",
    "Args",
    "Context",
    "NoArgs",
    "Step",
    "TransformDef",
    "TransformError",
    "compile_step",
    "map_key",
    "register_transform",
    "registered",
    "translate",
]

MAX_TEXT = 1_000_000
"""Longest text (characters) a transform reads or writes."""
MAX_ITEMS = 10_000
"""Longest list a transform reads or writes."""
PATH_PATTERN = r"^[^.\s]+(\.[^.\s]+)*$"


class TransformError(ValueError):
    """A value could not be transformed; `reason` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Args(BaseModel):
    """Base of the argument models: unknown arguments are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class NoArgs(Args):
    """The transform takes no arguments."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a step may read besides its value: the source body and the lookup tables."""

    source: JSON = None
    tables: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict)


A = TypeVar("A", bound=Args)
Function = Callable[[JSON, A, Context], JSON]


@dataclass(frozen=True, slots=True)
class TransformDef(Generic[A]):
    """A registered transform: its name, argument model, function and how it is applied."""

    name: str
    args: type[A]
    function: Function[A]
    summary: str
    shorthand: str | None = None  # the argument a bare scalar stands for: {truncate: 80}
    on_null: bool = False  # called for null too (default, coalesce)
    per_item: bool = True  # applied to each item of a list
    step_model: type[BaseModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        model = create_model(
            f"Transform_{self.name}",
            __config__=ConfigDict(extra="forbid", hide_input_in_errors=True),
            args=(self.args, Field(alias=self.name)),
        )
        object.__setattr__(self, "step_model", model)


_REGISTRY: dict[str, TransformDef[Any]] = {}


def register_transform(
    name: str,
    args: type[A],
    *,
    shorthand: str | None = None,
    on_null: bool = False,
    per_item: bool = True,
) -> Callable[[Function[A]], Function[A]]:
    """Register the decorated function ``f(value, args, context) -> value`` as `name`.

    The function raises `TransformError` for a value it cannot transform; any other
    exception is a bug and is not caught.
    """

    def decorate(function: Function[A]) -> Function[A]:
        summary = (function.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = TransformDef(
            name, args, function, summary, shorthand, on_null=on_null, per_item=per_item
        )
        return function

    return decorate


def registered() -> Mapping[str, TransformDef[Any]]:
    """Every registered transform, by name."""
    return dict(_REGISTRY)


@dataclass(frozen=True, slots=True)
class Step:
    """One compiled transform with its arguments; call it with a value and a context.

    Called for every field of every message, so null and text (the usual values) take
    short paths: the same outcome and the same checks as `check_size`, without the
    calls."""

    definition: TransformDef[Any]
    args: Args
    _function: Function[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_function", self.definition.function)

    @property
    def name(self) -> str:
        return self.definition.name

    def __call__(self, value: JSON, context: Context) -> JSON:
        if value is None and not self.definition.on_null:
            return None
        if value.__class__ is str:
            if len(value) > MAX_TEXT:
                raise TransformError(_TEXT_TOO_LONG)
            result = self._function(value, self.args, context)
        else:
            result = self._call_other(value, context)
        if result.__class__ is str:
            if len(result) > MAX_TEXT:
                raise TransformError(_TEXT_TOO_LONG)
        else:
            check_size(result)
        return result

    def _call_other(self, value: JSON, context: Context) -> JSON:
        check_size(value)
        if isinstance(value, list) and self.definition.per_item:
            return [
                item if item is None else self._function(item, self.args, context) for item in value
            ]
        return self._function(value, self.args, context)


def compile_step(raw: object, tables: Mapping[str, Mapping[str, JSON]] | None = None) -> Step:
    """A step from its configuration: ``"name"`` or ``{name: args}``.

    Raises ValueError for an unknown name and pydantic's ValidationError (located
    under the transform's name) for bad arguments. With `tables`, a lookup's table must
    be one of them.
    """
    if isinstance(raw, str):
        raw = {raw: {}}
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError("a transform is a name, or a mapping of one name to its arguments")
    [(name, args)] = raw.items()
    definition = _REGISTRY.get(name)
    if definition is None:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    if args is None:
        args = {}
    if not isinstance(args, dict) and definition.shorthand is not None:
        args = {definition.shorthand: args}
    parsed = definition.step_model.model_validate({name: args}).args  # type: ignore[attr-defined]
    step = Step(definition, parsed)
    if tables is not None and isinstance(parsed, LookupArgs) and parsed.table not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ValueError(f"lookup: unknown table {parsed.table!r} (tables: {known})")
    return step


_TEXT_TOO_LONG = f"text longer than {MAX_TEXT} characters"


def check_size(value: JSON) -> None:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise TransformError(_TEXT_TOO_LONG)
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise TransformError(f"list longer than {MAX_ITEMS} items")


def text_of(value: JSON) -> str:
    if not isinstance(value, str):
        raise TransformError(f"expected text, got {kind_of(value)}")
    return value


def kind_of(value: JSON) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "text" if isinstance(value, str) else "null"


# -- value maps and lookups -----------------------------------------------------------


def map_key(value: JSON) -> str:
    """Value-map keys are strings: true/false/null as in JSON, numbers as written."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


Unmapped = Literal["error", "default", "pass"]


def translate(
    value: JSON, table: Mapping[str, JSON], unmapped: Unmapped, default: JSON, what: str
) -> JSON:
    """`value` through `table`; a value not in it follows the `unmapped` policy."""
    if value.__class__ is str:
        key: str = value
    elif isinstance(value, dict | list):
        raise TransformError(f"a {what} needs a scalar")
    else:
        key = map_key(value)
    if key in table:
        return table[key]
    if unmapped == "pass":
        return value
    if unmapped == "default":
        return default
    raise TransformError(f"no entry in the {what}")


class LookupArgs(Args):
    table: str = Field(description="Name of a table under the mapping's `tables`.")
    unmapped: Unmapped = Field(
        default="error", description="A value not in the table: error, default or pass."
    )
    default: JSON = Field(default=None, description="Used for unmapped: default.")


@register_transform("lookup", LookupArgs, shorthand="table")
def _lookup(value: JSON, args: LookupArgs, context: Context) -> JSON:
    """The value's entry in a named table (shared by many fields)."""
    table = context.tables.get(args.table, {})
    return translate(value, table, args.unmapped, args.default, f"table {args.table}")


class DefaultArgs(Args):
    value: JSON = Field(description="Used when the value is null (or empty, with empty).")
    empty: bool = Field(default=False, description="Also replace empty text and lists.")


@register_transform("default", DefaultArgs, shorthand="value", on_null=True, per_item=False)
def _default(value: JSON, args: DefaultArgs, _: Context) -> JSON:
    """A fixed value in place of null (and of "" or [] with empty: true)."""
    if value is None or (args.empty and value in ("", [])):
        return args.value
    return value


class CoalesceArgs(Args):
    paths: tuple[str, ...] = Field(min_length=1, description="Source paths, tried in order.")

    @field_validator("paths")
    @classmethod
    def _dotted(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path or any(not part or part.strip() != part for part in split_path(path)):
                raise ValueError(f"{path!r} is not a dotted path")
        return paths


@register_transform("coalesce", CoalesceArgs, shorthand="paths", on_null=True, per_item=False)
def _coalesce(value: JSON, args: CoalesceArgs, context: Context) -> JSON:
    """When null: the first of these source paths that is present and not null."""
    if value is not None:
        return value
    for path in args.paths:
        found = get_path(context.source, split_path(path))
        if found is not MISSING and found is not None:
            return found
    return None


# The rest of the library registers itself on import.
from crossdock.core import transform_library as _library  # noqa: E402

del _library
