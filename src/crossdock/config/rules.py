"""Configuration of conditions (``when``) and target mappings, and their compiled forms.

Transforms, templates and expressions are parsed while the configuration is validated,
so an unknown transform, a bad argument, a broken template or a refused expression is a
located configuration error, never a surprise at run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from crossdock.config.types import KEY_PATH_PATTERN, ConfigModel, KeyPath, Name
from crossdock.core import rules
from crossdock.core.expressions import compile_expression
from crossdock.core.template import parse_template
from crossdock.core.transforms import compile_step

__all__ = [
    "ConditionSpec",
    "EachSpec",
    "FieldSpec",
    "MappingSpec",
    "compile_conditions",
    "compile_mapping",
]

_OPS = ("equals", "not_equals", "in", "exists", "expr")
_SOURCES = ("from", "value", "template", "expr", "each")


def _check_expression(text: str) -> str:
    try:
        compile_expression(text)
    except ValueError as exc:
        raise PydanticCustomError("expression", "{reason}", {"reason": str(exc)}) from None
    return text


class ConditionSpec(ConfigModel):
    """One test of the message body: `path` and exactly one operator, or an `expr`."""

    path: KeyPath | None = Field(
        default=None, description="Dotted path into the body, e.g. order.status."
    )
    equals: Any = Field(default=None, description="Holds when the value equals this.")
    not_equals: Any = Field(
        default=None, description="Holds when the value differs (or is absent)."
    )
    in_: list[Any] | None = Field(
        default=None, alias="in", description="Holds when the value is one of these."
    )
    exists: bool | None = Field(
        default=None, description="true: holds when the path is present; false: when absent."
    )
    expr: str | None = Field(
        default=None,
        description="A JMESPath expression; holds when its result is not false, null, "
        "empty text, an empty list or an empty object. Takes no path.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [op for op in _OPS if op in data]
            if len(given) != 1:
                raise PydanticCustomError(
                    "one_operator",
                    "give exactly one of equals, not_equals, in, exists, expr (got {given})",
                    {"given": ", ".join(given) or "none"},
                )
            if ("path" in data) == (given == ["expr"]):
                message = "expr takes no path" if "path" in data else "path is required"
                raise PydanticCustomError("condition_path", message)
        return data

    @field_validator("expr")
    @classmethod
    def _expr_valid(cls, text: str | None) -> str | None:
        return text if text is None else _check_expression(text)

    def compile(self) -> rules.Condition:
        fields = self.model_fields_set
        if self.expr is not None:
            return rules.Condition("", rules.Op.EXPR, compile_expression(self.expr))
        path = self.path or ""
        if "in_" in fields:
            return rules.Condition(path, rules.Op.IN, tuple(self.in_ or ()))
        if "exists" in fields:
            return rules.Condition(path, rules.Op.EXISTS, bool(self.exists))
        if "not_equals" in fields:
            return rules.Condition(path, rules.Op.NOT_EQUALS, self.not_equals)
        return rules.Condition(path, rules.Op.EQUALS, self.equals)


def _check_step(raw: Any) -> Any:
    """A transform step is valid when it compiles (lookup tables are checked later)."""
    try:
        compile_step(raw)
    except ValidationError:
        raise
    except ValueError as exc:
        raise PydanticCustomError("transform", "{reason}", {"reason": str(exc)}) from None
    return {raw: {}} if isinstance(raw, str) else raw


TransformStep = Annotated[
    Any,
    BeforeValidator(_check_step),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "minProperties": 1, "maxProperties": 1},
            ],
            "description": "A transform name, or {name: arguments}; see docs/mapping.md.",
        }
    ),
]


class FieldSpec(ConfigModel):
    """How one target field gets its value: from a source path, a constant, a template,
    an expression or a nested list; then transforms, default / required, a value map."""

    from_: KeyPath | None = Field(
        default=None, alias="from", description="Dotted path into the source body."
    )
    value: Any = Field(default=None, description="A constant value (instead of from).")
    template: str | None = Field(
        default=None,
        description="Text with {dotted.path} placeholders filled from the source "
        "('{{' and '}}' for braces).",
    )
    expr: str | None = Field(
        default=None, description="A JMESPath expression evaluated on the source body."
    )
    each: EachSpec | None = Field(
        default=None, description="Map every item of a source list with its own fields."
    )
    when: tuple[ConditionSpec, ...] = Field(
        default=(), description="Set this field only when all these conditions hold."
    )
    transform: tuple[TransformStep, ...] = Field(
        default=(),
        description="Transforms applied in order to the value read, before default and map.",
    )
    map: dict[str, Any] | None = Field(
        default=None,
        description="Value map: source value (as text; true/false/null for JSON literals) "
        "to target value.",
    )
    unmapped: Literal["error", "default", "pass"] = Field(
        default="error",
        description="A value missing from the map: 'error' parks the message, 'default' uses "
        "default, 'pass' keeps the value.",
    )
    default: Any = Field(
        default=None, description="Used when the source is absent or null, or unmapped."
    )
    required: bool = Field(
        default=False, description="Park the message when the source is absent or null."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"from": data}
        if isinstance(data, dict) and sum(key in data for key in _SOURCES) != 1:
            raise PydanticCustomError(
                "from_or_value", "give exactly one of 'from', 'value', 'template', 'expr', 'each'"
            )
        return data

    @field_validator("template")
    @classmethod
    def _template_valid(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parse_template(text)
            except ValueError as exc:
                raise PydanticCustomError("template", "{reason}", {"reason": str(exc)}) from None
        return text

    @field_validator("expr")
    @classmethod
    def _expr_valid(cls, text: str | None) -> str | None:
        return text if text is None else _check_expression(text)

    def compile(self, target: str, tables: Mapping[str, Mapping[str, Any]]) -> rules.FieldRule:
        values = None if self.map is None else {str(k): v for k, v in self.map.items()}
        return rules.FieldRule(
            target=target,
            source=self.from_,
            constant=self.value,
            values=values,
            unmapped=rules.Unmapped(self.unmapped),
            default=self.default,
            has_default="default" in self.model_fields_set,
            required=self.required,
            template=None if self.template is None else parse_template(self.template),
            expr=None if self.expr is None else compile_expression(self.expr),
            each=None if self.each is None else self.each.compile(tables),
            when=compile_conditions(self.when),
            transforms=tuple(compile_step(step, tables) for step in self.transform),
        )


def _fields_schema(schema: JsonDict) -> None:
    """A field is a rule or, as shorthand, a source path: say so in the JSON Schema."""
    properties = schema.get("properties")
    fields = properties.get("fields") if isinstance(properties, dict) else None
    if not isinstance(fields, dict):
        return
    path: JsonDict = {"type": "string", "pattern": KEY_PATH_PATTERN}
    for key in ("additionalProperties", "patternProperties"):
        rules_schema = fields.get(key)
        if key == "additionalProperties" and isinstance(rules_schema, dict):
            fields[key] = {"anyOf": [path, rules_schema]}
        elif isinstance(rules_schema, dict):
            fields[key] = {k: {"anyOf": [path, v]} for k, v in rules_schema.items()}


class EachSpec(ConfigModel, json_schema_extra=_fields_schema):
    """Maps every item of a source list; the item is the source of its fields."""

    from_: KeyPath = Field(alias="from", description="Dotted path of the source list.")
    when: tuple[ConditionSpec, ...] = Field(
        default=(), description="Map only the items for which all these conditions hold."
    )
    max_items: int = Field(
        default=1000,
        ge=1,
        le=rules.MAX_EACH_ITEMS,
        description="A longer list parks the message (bounds the work per message).",
    )
    keep: tuple[KeyPath, ...] = Field(
        default=(), description="Item paths copied as they are (select)."
    )
    fields: dict[KeyPath, FieldSpec] = Field(
        default_factory=dict,
        description="Item field (dotted path) to a source path in the item, or to a field rule.",
    )

    def compile(self, tables: Mapping[str, Mapping[str, Any]]) -> rules.EachRule:
        mapping = rules.Mapping(self.keep, _compile_fields(self.fields, tables), tables)
        return rules.EachRule(
            source=self.from_,
            mapping=mapping,
            when=compile_conditions(self.when),
            max_items=self.max_items,
        )


class MappingSpec(ConfigModel, json_schema_extra=_fields_schema):
    """Builds the body sent to a target. Without a mapping the body passes unchanged."""

    keep: tuple[KeyPath, ...] = Field(
        default=(), description="Source paths copied as they are, to the same paths (select)."
    )
    fields: dict[KeyPath, FieldSpec] = Field(
        default_factory=dict,
        description="Target field (dotted path) to a source path, or to a field rule with "
        "from/value/template/expr/each, when, transform, map, unmapped, default, required.",
    )
    tables: dict[Name, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named lookup tables (source value as text to target value) for the "
        "lookup transform.",
    )

    @model_validator(mode="after")
    def _known_tables(self) -> MappingSpec:
        errors: list[InitErrorDetails] = []
        for loc, table in _lookups(self.fields):
            if table not in self.tables:
                known = ", ".join(sorted(self.tables)) or "none"
                error = PydanticCustomError(
                    "unknown_table",
                    "unknown table {table} (tables: {known})",
                    {"table": repr(table), "known": known},
                )
                errors.append({"type": error, "loc": loc, "input": table})
        if errors:
            raise ValidationError.from_exception_data("MappingSpec", errors)
        return self


def _lookups(
    fields: Mapping[str, FieldSpec | str], prefix: tuple[str | int, ...] = ("fields",)
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(location, table name) of every lookup step, nested lists included."""
    for target, spec in fields.items():
        if isinstance(spec, str):
            continue
        for index, step in enumerate(spec.transform):
            args = step.get("lookup")
            if args is not None:
                table = args if isinstance(args, str) else args.get("table")
                yield (*prefix, target, "transform", index, "lookup", "table"), str(table)
        if spec.each is not None:
            yield from _lookups(spec.each.fields, (*prefix, target, "each", "fields"))


def _compile_fields(
    fields: Mapping[str, FieldSpec | str], tables: Mapping[str, Mapping[str, Any]]
) -> tuple[rules.FieldRule, ...]:
    return tuple(
        (FieldSpec.model_validate(rule) if isinstance(rule, str) else rule).compile(target, tables)
        for target, rule in fields.items()
    )


FieldSpec.model_rebuild()


def compile_conditions(specs: tuple[ConditionSpec, ...]) -> tuple[rules.Condition, ...]:
    return tuple(spec.compile() for spec in specs)


def compile_mapping(spec: MappingSpec | None) -> rules.Mapping:
    if spec is None:
        return rules.Mapping()
    tables = {name: {str(k): v for k, v in table.items()} for name, table in spec.tables.items()}
    return rules.Mapping(keep=spec.keep, fields=_compile_fields(spec.fields, tables), tables=tables)
