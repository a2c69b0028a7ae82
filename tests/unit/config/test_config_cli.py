"""`crossdock validate` and `crossdock schema`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crossdock.cli import app

runner = CliRunner()

VALID = """\
version: 1
endpoints:
  shop: {connector: webhook}
  erp:
    connector: http
    settings:
      base_url: http://erp
      auth: {type: bearer, token: "${env:CLI_TEST_TOKEN}"}
flows:
  orders: {source: shop, targets: [{endpoint: erp}]}
"""

INVALID = """\
version: 1
server: {port: 0}
flows:
  orders: {source: shop, targets: [{endpoint: erp}]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_ok(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["validate", str(write(tmp_path, VALID))], env={"CLI_TEST_TOKEN": "x"}
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 2 endpoints, 1 flow\n", "")


def test_validate_reports_every_problem_on_stderr(tmp_path: Path) -> None:
    path = write(tmp_path, INVALID)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"server.port: must be >= 1 ({path}:2:16)",
        f'flows.orders.source: unknown endpoint "shop"; no endpoints are defined ({path}:4:20)',
        f'flows.orders.targets[0].endpoint: unknown endpoint "erp"; no endpoints are defined '
        f"({path}:4:47)",
    ]


def test_validate_missing_secret_fails_unless_secrets_are_skipped(tmp_path: Path) -> None:
    path = str(write(tmp_path, VALID))
    missing = runner.invoke(app, ["validate", path], env={"CLI_TEST_TOKEN": None})
    assert missing.exit_code == 1
    assert "${env:CLI_TEST_TOKEN} is not set" in missing.stderr
    skipped = runner.invoke(app, ["validate", "--no-secrets", path], env={"CLI_TEST_TOKEN": None})
    assert skipped.exit_code == 0


def test_validate_json(tmp_path: Path) -> None:
    path = write(tmp_path, INVALID)
    result = runner.invoke(app, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"][0] == {
        "path": "server.port",
        "message": "must be >= 1",
        "file": str(path),
        "line": 2,
        "column": 16,
    }
    assert len(report["problems"]) == 3


def test_validate_json_ok(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    result = runner.invoke(app, ["validate", "--json", str(path)], env={"CLI_TEST_TOKEN": "x"})
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "problems": []}


def test_validate_missing_path_is_a_clear_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stderr == f"no such file or folder ({tmp_path / 'nope.yaml'})\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_without_path_is_a_usage_error() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output
    assert "Traceback" not in result.output


def test_schema_prints_json_schema_naming_the_top_level_keys() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {
        "version",
        "store",
        "journal",
        "server",
        "endpoints",
        "flows",
    }
    assert schema["required"] == ["version"]
    assert schema["additionalProperties"] is False
