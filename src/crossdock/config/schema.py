"""`config_json_schema`: the JSON Schema of a configuration file, for editors and docs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from crossdock.config._document import document_model
from crossdock.config.types import format_duration

__all__ = ["SCHEMA_DIALECT", "config_json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a configuration file.

    It covers every connector registered when it is called: an endpoint is one of a
    ``oneOf`` of per-connector shapes, chosen by ``connector``. Secrets are described
    as reference strings and durations as text or seconds. References written in
    ordinary fields (e.g. ``port: ${env:PORT}``) are valid configuration that the
    schema cannot express.
    """
    schema = document_model().model_json_schema(
        mode="validation", schema_generator=_DefaultsAsWritten
    )
    _close_named_mappings(schema)
    head = {
        "$schema": SCHEMA_DIALECT,
        "title": "crossdock configuration",
        "description": "A crossdock configuration file (or one file of a folder of them).",
    }
    schema.pop("title", None)
    schema.pop("description", None)
    return head | schema


class _DefaultsAsWritten(GenerateJsonSchema):
    """Show default durations as a user writes them ("30s"), not as ISO 8601."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def _close_named_mappings(node: Any) -> None:
    """Mappings keyed by name accept no key that is not a valid name."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_named_mappings(value)
    elif isinstance(node, list):
        for value in node:
            _close_named_mappings(value)
