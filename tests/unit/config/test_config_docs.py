"""docs/configuration.md and examples/orders.yaml say what the code does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crossdock.cli import app
from crossdock.config import config_json_schema, connector_settings, load_config

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "examples" / "orders.yaml"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_example_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_TOKEN", "example-token")
    config = load_config(EXAMPLE)
    assert sorted(config.endpoints) == ["erp", "shop"]
    assert config.flows["orders"].key == "order.customer"
    assert config.store.path == EXAMPLE.parent / "data" / "crossdock.db"
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE)])
    assert (result.exit_code, result.stdout) == (0, "ok: 2 endpoints, 1 flow\n")


def test_example_needs_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERP_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 1
    assert "${env:ERP_TOKEN} is not set" in result.stderr


def test_the_docs_show_the_example_file() -> None:
    assert blocks("yaml")[0] in EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", [b for b in blocks("yaml") if b.startswith("version: 1")])
def test_every_yaml_example_in_the_docs_is_valid(text: str, tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    load_config(path, resolve_secrets=False, env={})


def test_the_docs_have_yaml_examples() -> None:
    assert len([b for b in blocks("yaml") if b.startswith("version: 1")]) >= 3


def property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        for value in node.values():
            names |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(value)
    return names


def test_the_docs_name_every_key_of_the_schema() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC))
    assert property_names(config_json_schema()) - documented == set()


def test_the_connector_example_in_the_docs_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(connector_settings, "_models", dict(connector_settings._models))
    [code] = [b for b in blocks("python") if "register_connector_settings(" in b]
    exec(compile(code, "configuration.md", "exec", dont_inherit=True), {"__name__": "docs"})
    path = tmp_path / "crossdock.yaml"
    path.write_text(
        "version: 1\nendpoints:\n  desk:\n    connector: servicenow\n"
        "    settings: {instance: acme, username: hub, password: '${env:SN_PW}'}\n",
        encoding="utf-8",
    )
    settings = load_config(path, env={"SN_PW": "pw"}).endpoints["desk"].settings
    assert type(settings).__name__ == "ServiceNowSettings"
