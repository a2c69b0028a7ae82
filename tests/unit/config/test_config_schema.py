"""The JSON Schema describes the real structure, and plugged-in connectors join it.

`jsonschema` is not a dependency, so `check` below is a small validator for the subset
of JSON Schema the configuration schema uses; it is enough to see that real files pass
and broken ones do not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from crossdock.config import (
    ConnectorSettings,
    Secret,
    config_json_schema,
    connector_settings,
    load_config,
    register_connector_settings,
)
from crossdock.config.connectors import ConnectorRegistry
from crossdock.core.errors import ConfigError

ROOT = Path(__file__).parents[3]


def check(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None) -> bool:
    """Does `value` match `schema`? (the keywords pydantic emits, draft 2020-12)."""
    root = root or schema
    if "$ref" in schema:
        return check(root["$defs"][schema["$ref"].split("/")[-1]], value, root)
    if "anyOf" in schema and not any(check(s, value, root) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(check(s, value, root) for s in schema["oneOf"]) != 1:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    return _check_type(schema, value, root)


def _check_type(schema: dict[str, Any], value: Any, root: dict[str, Any]) -> bool:
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and _bounds(schema, value)
    if kind == "number":
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and _bounds(schema, value)
        )
    if kind is not None and not isinstance(value, types[kind]):
        return False
    if isinstance(value, str) and "pattern" in schema:
        return re.search(schema["pattern"], value) is not None
    if isinstance(value, list):
        return len(value) >= schema.get("minItems", 0) and all(
            check(schema.get("items", {}), item, root) for item in value
        )
    if isinstance(value, dict):
        return _check_object(schema, value, root)
    return True


def _bounds(schema: dict[str, Any], value: float) -> bool:
    return (
        value >= schema.get("minimum", value)
        and value <= schema.get("maximum", value)
        and ("exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"])
    )


def _check_object(schema: dict[str, Any], value: dict[str, Any], root: dict[str, Any]) -> bool:
    if not all(key in value for key in schema.get("required", [])):
        return False
    properties, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    for key, item in value.items():
        matched = [s for p, s in patterns.items() if re.search(p, key)]
        if key in properties:
            matched.append(properties[key])
        extra = schema.get("additionalProperties", True)
        if not matched and (
            extra is False or (isinstance(extra, dict) and not check(extra, item, root))
        ):
            return False
        if not all(check(s, item, root) for s in matched):
            return False
    return True


def example(name: str) -> Any:
    return yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))


def test_schema_accepts_the_example_and_refuses_broken_variants() -> None:
    schema = config_json_schema()
    config = example("orders.yaml")
    assert check(schema, config)
    broken = [
        {**config, "servers": {}},
        {**config, "version": 2},
        {**config, "server": {"port": 0}},
        {**config, "endpoints": {"Bad Name": {"connector": "webhook"}}},
        {**config, "endpoints": {"x": {"connector": "ftp"}}},
        {**config, "endpoints": {"x": {"connector": "http", "settings": {}}}},
        {
            **config,
            "endpoints": {
                "x": {
                    "connector": "http",
                    "settings": {
                        "base_url": "http://x",
                        "auth": {"type": "bearer", "token": "literal"},
                    },
                }
            },
        },
        {**config, "flows": {"f": {"targets": [{"endpoint": "erp"}]}}},
        {
            **config,
            "flows": {"f": {"source": "a", "sources": ["a"], "targets": [{"endpoint": "erp"}]}},
        },
        {**config, "journal": {"retention": "3 weeks"}},
    ]
    assert [check(schema, b) for b in broken] == [False] * len(broken)


def test_every_model_field_is_in_the_schema_with_a_description() -> None:
    schema = config_json_schema()
    defs = {**schema["$defs"], "(root)": schema}
    for name, definition in defs.items():
        assert definition.get("description"), name
        for key, prop in definition["properties"].items():
            assert prop.get("description"), f"{name}.{key}"
    flow = defs["Flow"]["properties"]
    assert set(flow) == {
        "description",
        "sources",
        "source",
        "key",
        "on_park",
        "when",
        "route",
        "targets",
    }


def test_endpoints_are_a_union_keyed_by_connector() -> None:
    schema = config_json_schema()
    endpoint = schema["properties"]["endpoints"]["patternProperties"]["^[a-z][a-z0-9_-]{0,62}$"]
    assert endpoint["discriminator"]["propertyName"] == "connector"
    assert set(endpoint["discriminator"]["mapping"]) == set(connector_settings)
    http = schema["$defs"]["HttpEndpoint"]["properties"]
    assert http["connector"]["const"] == "http"
    assert http["settings"]["$ref"] == "#/$defs/HttpSettings"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ConnectorRegistry:
    """The process-wide registry, restored after the test."""
    monkeypatch.setattr(connector_settings, "_models", dict(connector_settings._models))
    return connector_settings


class TicketSettings(ConnectorSettings):
    """A ticketing system."""

    instance: str = Field(description="Instance name.")
    password: Secret = Field(description="Password.")


def test_registered_connector_is_validated_and_in_the_schema(
    registry: ConnectorRegistry, tmp_path: Path
) -> None:
    register_connector_settings("tickets", TicketSettings)
    path = tmp_path / "crossdock.yaml"
    text = (
        "version: 1\nendpoints:\n  desk:\n    connector: tickets\n"
        "    settings: {instance: acme, password: '${env:PW}'}\n"
    )
    path.write_text(text, encoding="utf-8")

    settings = load_config(path, env={"PW": "pw"}).endpoints["desk"].settings
    assert isinstance(settings, TicketSettings)
    assert settings.password.get_secret_value() == "pw"
    assert "TicketsEndpoint" in config_json_schema()["$defs"]

    path.write_text(text.replace("instance: acme", "instanse: acme"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"PW": "pw"})
    assert [(p.path, p.message, p.column) for p in caught.value.problems] == [
        ("endpoints.desk.settings.instance", "missing required key", 5),  # at "settings:"
        ("endpoints.desk.settings.instanse", "unknown key", 16),
    ]


def test_registration_is_checked(registry: ConnectorRegistry) -> None:
    registry.register("http", registry["http"])  # the same model again: a no-op
    with pytest.raises(ValueError, match="already registered"):
        registry.register("http", TicketSettings)
    with pytest.raises(ValueError, match="invalid connector name"):
        registry.register("Tickets", TicketSettings)

    class Loose(ConnectorSettings, extra="allow"):
        """Accepts anything."""

    with pytest.raises(ValueError, match="refuse unknown keys"):
        registry.register("loose", Loose)
