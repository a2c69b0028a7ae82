"""Configuration of conditions (``when``) and target mappings, and their compiled forms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from crossdock.config.types import ConfigModel, KeyPath
from crossdock.core import rules

__all__ = ["ConditionSpec", "FieldSpec", "MappingSpec", "compile_conditions", "compile_mapping"]

_OPS = ("equals", "not_equals", "in", "exists")


class ConditionSpec(ConfigModel):
    """One test of the message body; give `path` and exactly one of the operators."""

    path: KeyPath = Field(description="Dotted path into the body, e.g. order.status.")
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

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [op for op in _OPS if op in data]
            if len(given) != 1:
                raise PydanticCustomError(
                    "one_operator",
                    "give exactly one of equals, not_equals, in, exists (got {given})",
                    {"given": ", ".join(given) or "none"},
                )
        return data

    def compile(self) -> rules.Condition:
        fields = self.model_fields_set
        if "in_" in fields:
            return rules.Condition(self.path, rules.Op.IN, tuple(self.in_ or ()))
        if "exists" in fields:
            return rules.Condition(self.path, rules.Op.EXISTS, bool(self.exists))
        if "not_equals" in fields:
            return rules.Condition(self.path, rules.Op.NOT_EQUALS, self.not_equals)
        return rules.Condition(self.path, rules.Op.EQUALS, self.equals)


class FieldSpec(ConfigModel):
    """How one target field gets its value: from a source path, or a constant."""

    from_: KeyPath | None = Field(
        default=None, alias="from", description="Dotted path into the source body."
    )
    value: Any = Field(default=None, description="A constant value (instead of from).")
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
    def _from_or_value(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"from": data}
        if isinstance(data, dict) and ("from" in data) == ("value" in data):
            raise PydanticCustomError("from_or_value", "give exactly one of 'from' or 'value'")
        return data

    def compile(self, target: str) -> rules.FieldRule:
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
        )


class MappingSpec(ConfigModel):
    """Builds the body sent to a target. Without a mapping the body passes unchanged."""

    keep: tuple[KeyPath, ...] = Field(
        default=(), description="Source paths copied as they are, to the same paths (select)."
    )
    fields: dict[KeyPath, FieldSpec | KeyPath] = Field(
        default_factory=dict,
        description="Target field (dotted path) to a source path, or to a field rule with "
        "from/value, map, unmapped, default, required.",
    )


def compile_conditions(specs: tuple[ConditionSpec, ...]) -> tuple[rules.Condition, ...]:
    return tuple(spec.compile() for spec in specs)


def compile_mapping(spec: MappingSpec | None) -> rules.Mapping:
    if spec is None:
        return rules.Mapping()
    fields = tuple(
        (FieldSpec.model_validate(rule) if isinstance(rule, str) else rule).compile(target)
        for target, rule in spec.fields.items()
    )
    return rules.Mapping(keep=spec.keep, fields=fields)
