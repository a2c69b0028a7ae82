"""Endpoint mappings (to_canonical / from_canonical), inline or in a file of their own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crossdock.config import load_config
from crossdock.core.errors import ConfigError, ConfigProblem

EXAMPLES = Path(__file__).parents[3] / "examples"

CONFIG = """\
version: 1
endpoints:
  desk:
    connector: webhook
    mapping: {mapping}
  erp: {{connector: http, settings: {{base_url: "http://127.0.0.1:9"}}}}
flows:
  f:
    source: desk
    targets: [{{endpoint: erp}}]
"""


def write(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_with(folder: Path, mapping: str) -> Path:
    return write(folder, CONFIG.format(mapping=mapping), "crossdock.yaml")


def problems(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, resolve_secrets=False)
    return info.value.problems


def test_inline_mapping(tmp_path: Path) -> None:
    path = config_with(tmp_path, "{to_canonical: {fields: {title: subject}}}")
    endpoint = load_config(path).endpoints["desk"]
    assert endpoint.mapping is not None
    assert endpoint.mapping.to_canonical is not None
    assert endpoint.mapping.from_canonical is None


def test_mapping_file_relative_to_the_configuration(tmp_path: Path) -> None:
    write(
        tmp_path,
        "to_canonical:\n  fields: {title: subject}\nlossless: {title: any}\n",
        "m/desk.yaml",
    )
    endpoint = load_config(config_with(tmp_path, "m/desk.yaml")).endpoints["desk"]
    assert endpoint.mapping is not None
    assert endpoint.mapping.to_canonical is not None
    assert endpoint.mapping.lossless == {"title": "any"}


def test_a_problem_inside_the_mapping_file_is_located_in_that_file(tmp_path: Path) -> None:
    mapping = write(
        tmp_path,
        """\
        to_canonical:
          fields:
            title: subject
            priority: {from: p, map: {"1": high}, unmaped: pass}
        from_canonical:
          fields:
            x: {from: y, transform: [no_such_step]}
        """,
        "m/desk.yaml",
    )
    found = problems(config_with(tmp_path, "m/desk.yaml"))
    assert {(p.file, p.line) for p in found} == {(str(mapping), 4), (str(mapping), 7)}
    assert any("unmaped" in p.path for p in found)
    assert all(p.path.startswith("endpoints.desk.mapping.") for p in found)


def test_a_missing_or_malformed_mapping_file_is_located_at_the_reference(
    tmp_path: Path,
) -> None:
    config = config_with(tmp_path, "m/nowhere.yaml")
    [missing] = problems(config)
    assert missing.path == "endpoints.desk.mapping"
    assert "mapping file m/nowhere.yaml is not a file" in missing.message
    assert (missing.file, missing.line) == (str(config), 5)

    write(tmp_path, "- just\n- a list\n", "m/list.yaml")
    [not_a_mapping] = problems(config_with(tmp_path, "m/list.yaml"))
    assert "must hold a mapping" in not_a_mapping.message

    bad = write(tmp_path, "to_canonical: {fields: [\n", "m/broken.yaml")
    [syntax] = problems(config_with(tmp_path, "m/broken.yaml"))
    assert syntax.file == str(bad)
    assert "invalid YAML" in syntax.message


def test_the_siam_example_loads_its_mapping_files() -> None:
    config = load_config(EXAMPLES / "siam.yaml", resolve_secrets=False)
    zendesk, jira = config.endpoints["zendesk"].mapping, config.endpoints["jira"].mapping
    assert zendesk is not None and zendesk.to_canonical is not None
    assert jira is not None and jira.from_canonical is not None
