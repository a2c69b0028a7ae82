"""``crossdock map test`` and ``crossdock test``, through the real CLI."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossdock.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).parents[3] / "examples"

CONFIG = """
version: 1
endpoints:
  desk: {connector: webhook}
  net: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
  field: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  tickets:
    source: desk
    when: [{path: state, not_equals: draft}]
    targets:
      - endpoint: net
        when: [{path: category, equals: network}]
        mapping:
          fields:
            ref: id
            title: {from: subject, transform: [trim]}
            prio: {from: priority, map: {"1": critical, "2": high}}
      - endpoint: field
        when: [{path: category, in: [network, hardware]}]
        mapping: {keep: [id]}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return path


def sample(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(body))
    return path


TICKET = {"id": 7, "state": "new", "category": "network", "subject": " VPN down ", "priority": 1}


def test_map_test_prints_each_target_with_a_trace(config: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["map", "test", "tickets", "-i", str(sample(tmp_path, TICKET)), "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "flow tickets → target net" in result.output
    assert 'title  subject → " VPN down " → trim "VPN down"' in result.output
    assert 'prio   priority → 1 → map "critical"' in result.output
    assert "flow tickets → target field" in result.output
    assert '"ref": 7' in result.output


def test_map_test_json_and_one_target(config: Path, tmp_path: Path) -> None:
    args = ["map", "test", "tickets", "-i", str(sample(tmp_path, TICKET)), "-c", str(config)]
    result = runner.invoke(app, [*args, "--target", "net", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["endpoint"] for t in data["targets"]] == ["net"]
    [net] = data["targets"]
    assert net["output"] == {"ref": 7, "title": "VPN down", "prio": "critical"}
    title = next(f for f in net["stages"][0]["fields"] if f["field"] == "title")
    assert title["steps"] == [["read", " VPN down "], ["trim", "VPN down"]]


def test_map_test_reports_filtering_and_fails_on_a_mapping_error(
    config: Path, tmp_path: Path
) -> None:
    base = ["map", "test", "tickets", "-c", str(config), "-i"]
    draft = runner.invoke(app, [*base, str(sample(tmp_path, {**TICKET, "state": "draft"}))])
    assert draft.exit_code == 0
    assert "filtered (flow.when: state not_equals 'draft')" in draft.output
    bad = runner.invoke(app, [*base, str(sample(tmp_path, {**TICKET, "priority": 9}))])
    assert bad.exit_code == 1
    assert "FAILED: field prio from priority: no entry in the value map (value 9)" in bad.output
    assert "parked: flow tickets, target net: field prio" in bad.output


def test_map_test_refuses_unknown_flow_target_and_bad_json(config: Path, tmp_path: Path) -> None:
    good = str(sample(tmp_path, TICKET))
    unknown = runner.invoke(app, ["map", "test", "nope", "-i", good, "-c", str(config)])
    assert unknown.exit_code == 1
    assert "no flow 'nope' in the configuration (flows: tickets)" in unknown.output
    target = runner.invoke(
        app, ["map", "test", "tickets", "-i", good, "-c", str(config), "--target", "x"]
    )
    assert target.exit_code == 1
    assert "flow tickets has no target 'x' (targets: net, field)" in target.output
    (tmp_path / "bad.json").write_text("{not json")
    bad = runner.invoke(
        app, ["map", "test", "tickets", "-i", str(tmp_path / "bad.json"), "-c", str(config)]
    )
    assert bad.exit_code == 1
    assert "is not JSON" in bad.output


def test_map_test_reads_stdin(config: Path) -> None:
    result = runner.invoke(
        app, ["map", "test", "tickets", "-i", "-", "-c", str(config)], input=json.dumps(TICKET)
    )
    assert result.exit_code == 0, result.output
    assert '"prio": "critical"' in result.output


def test_the_walkthrough_cases_pass() -> None:
    result = runner.invoke(app, ["test", str(EXAMPLES / "orders.yaml")])
    assert result.exit_code == 0, result.output
    assert "3 cases: 3 passed, 0 failed" in result.output


CASES = """
cases:
  - name: network tickets go to both
    flow: tickets
    input: {id: 7, state: new, category: network, subject: " VPN ", priority: 1}
    expect:
      net: {ref: 7, title: VPN, prio: critical}
      field: {id: 7}
  - name: a wrong expectation
    flow: tickets
    input: {id: 8, state: new, category: network, subject: x, priority: 2}
    expect:
      net: {ref: 8, title: x, prio: critical, extra: 1}
  - name: subset only checks what it names
    flow: tickets
    target: net
    input: {id: 9, state: new, category: network, subject: x, priority: 2}
    expect: {net: {prio: high}}
    match: subset
  - name: drafts are dropped
    flow: tickets
    input: {id: 10, state: draft}
    filtered: true
  - name: unknown priorities park
    flow: tickets
    input: {id: 11, state: new, category: network, priority: 5}
    error: no entry in the value map
  - name: expects a target that gets nothing
    flow: tickets
    input: {id: 12, state: new, category: hardware}
    expect: {net: {}, field: {id: 12}}
"""


def test_cases_pass_and_fail_with_a_readable_diff(config: Path) -> None:
    (config.parent / "crossdock.test.yaml").write_text(textwrap.dedent(CASES))
    result = runner.invoke(app, ["test", str(config)])
    assert result.exit_code == 1
    out = result.output
    assert "PASS" in out and "network tickets go to both" in out
    assert "crossdock.test.yaml:9  a wrong expectation (flow tickets)" in out
    assert 'prio: "critical" → "high"' in out
    assert "extra: missing (expected 1)" in out
    assert "target field also received a body, not in expect" in out
    assert "target net received nothing" in out
    assert "6 cases: 4 passed, 2 failed" in out


def test_cases_as_json(config: Path) -> None:
    (config.parent / "crossdock.test.yaml").write_text(textwrap.dedent(CASES))
    result = runner.invoke(app, ["test", str(config), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert (data["passed"], data["failed"]) == (4, 2)
    wrong = next(c for c in data["cases"] if c["name"] == "a wrong expectation")
    assert wrong["changes"]["net"] == [
        {"path": "prio", "kind": "changed", "before": "critical", "after": "high"},
        {"path": "extra", "kind": "removed", "before": 1, "after": None},
    ]


def test_case_files_of_a_file_configuration_and_input_files_and_cases_option(
    config: Path, tmp_path: Path
) -> None:
    (tmp_path / "body.json").write_text(json.dumps({"id": 1, "state": "draft"}))
    (tmp_path / "crossdock.drafts.test.yml").write_text(
        "cases:\n  - {name: from a file, flow: tickets, input_file: body.json, filtered: true}\n"
    )
    (tmp_path / "other.test.yaml").write_text("cases: not even valid")  # another config's
    result = runner.invoke(app, ["test", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 case: 1 passed, 0 failed" in result.output
    other = tmp_path / "elsewhere.yaml"
    other.write_text(
        "cases:\n  - {name: x, flow: tickets, input: {state: draft}, filtered: true}\n"
    )
    chosen = runner.invoke(app, ["test", str(config), "--cases", str(other)])
    assert chosen.exit_code == 0, chosen.output
    assert "elsewhere.yaml:2" in chosen.output


def test_case_files_of_a_folder_configuration_include_its_tests_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "tests").mkdir(parents=True)
    (folder / "crossdock.yaml").write_text(textwrap.dedent(CONFIG))
    (folder / "a.test.yaml").write_text(
        "cases:\n  - {name: a, flow: tickets, input: {state: draft}, filtered: true}\n"
    )
    (folder / "tests" / "b.test.yml").write_text(
        "cases:\n  - {name: b, flow: tickets, input: {state: x}, filtered: true}\n"
    )
    result = runner.invoke(app, ["test", str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 cases: 2 passed, 0 failed" in result.output


def test_invalid_case_files_are_located_and_nothing_runs(config: Path) -> None:
    (config.parent / "crossdock.bad.test.yaml").write_text(
        textwrap.dedent(
            """
            cases:
              - name: two inputs
                flow: tickets
                input: {}
                input_file: x.json
                filtered: true
              - name: no expectation
                flow: tickets
                input: {}
              - name: missing file
                flow: tickets
                input_file: nowhere.json
                filtered: true
              - name: typo
                flow: tickets
                inptu: {}
                filtered: true
            """
        )
    )
    result = runner.invoke(app, ["test", str(config)])
    assert result.exit_code == 1
    out = result.output
    assert "give exactly one of input and input_file" in out
    assert "give exactly one of expect, filtered and error" in out
    assert "cases[3].inptu" in out and "crossdock.bad.test.yaml:17" in out
    assert "PASS" not in out


def test_a_missing_input_file_is_located(config: Path) -> None:
    (config.parent / "crossdock.f.test.yaml").write_text(
        "cases:\n  - {name: m, flow: tickets, input_file: nowhere.json, filtered: true}\n"
    )
    result = runner.invoke(app, ["test", str(config)])
    assert result.exit_code == 1
    assert "cannot read" in result.output and "crossdock.f.test.yaml:2" in result.output


def test_no_cases_is_a_failure_and_unknown_flows_fail(config: Path) -> None:
    none = runner.invoke(app, ["test", str(config)])
    assert none.exit_code == 1
    assert "no test cases" in none.output
    (config.parent / "crossdock.x.test.yaml").write_text(
        "cases:\n  - {name: gone, flow: nope, input: {}, filtered: true}\n"
    )
    result = runner.invoke(app, ["test", str(config)])
    assert result.exit_code == 1
    assert "no flow 'nope' in the configuration" in result.output


def test_a_folder_configuration_does_not_read_its_cases_as_configuration(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(EXAMPLES / "orders.yaml", folder / "orders.yaml")
    shutil.copy(EXAMPLES / "orders.test.yaml", folder / "orders.test.yaml")
    valid = runner.invoke(app, ["validate", str(folder), "--no-secrets"])
    assert valid.exit_code == 0, valid.output
    result = runner.invoke(app, ["test", str(folder)])
    assert result.exit_code == 0, result.output
    assert "3 passed" in result.output


def test_the_documented_case_file_runs(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[3] / "docs" / "mapping.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n# orders.test.yaml", 1)[1].split("\n", 1)[1]
    block = block.split("```", 1)[0]
    shutil.copy(EXAMPLES / "orders.yaml", tmp_path / "orders.yaml")
    (tmp_path / "samples").mkdir()
    (tmp_path / "orders.test.yaml").write_text(block)
    drone = {
        "order": {"id": "A-2", "customer": "c", "total": 1, "status": "paid", "shipping": "drone"}
    }
    (tmp_path / "samples" / "drone-order.json").write_text(json.dumps(drone))
    result = runner.invoke(app, ["test", str(tmp_path / "orders.yaml")])
    assert result.exit_code == 0, result.output
    assert "3 cases: 3 passed, 0 failed" in result.output


def test_the_siam_example_cases_pass_through_both_endpoint_mappings() -> None:
    result = runner.invoke(app, ["test", str(EXAMPLES / "siam.yaml")])
    assert result.exit_code == 0, result.output
    assert "4 cases: 4 passed, 0 failed" in result.output


def test_map_test_shows_every_stage_and_checks_the_source(tmp_path: Path) -> None:
    ticket = {"id": 9, "subject": "VPN", "status": "open", "priority": "urgent"}
    args = ["map", "test", "escalations", "-c", str(EXAMPLES / "siam.yaml")]
    result = runner.invoke(app, [*args, "-i", str(sample(tmp_path, ticket))])
    assert result.exit_code == 0, result.output
    out = result.output
    stages = ["to_canonical of zendesk", "flow escalations → target jira", "from_canonical of jira"]
    assert [out.index(s) for s in stages] == sorted(out.index(s) for s in stages)
    assert 'priority → "urgent" → map "critical"' in out
    assert 'priority → "critical" → map "Highest"' in out
    wrong = runner.invoke(app, [*args, "-i", str(sample(tmp_path, ticket)), "--source", "jira"])
    assert wrong.exit_code == 1
    assert "flow escalations has no source 'jira' (sources: zendesk)" in wrong.output
