"""Invalid configurations: every problem reported at once, each at its file:line:column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crossdock.config import load_config
from crossdock.core.errors import ConfigError, ConfigProblem


def write(folder: Path, text: str, name: str = "crossdock.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return caught.value.problems


def located(problem: ConfigProblem) -> tuple[str, int | None, int | None]:
    return problem.path, problem.line, problem.column


BASE = textwrap.dedent(
    """\
    version: 1
    endpoints:
      shop:
        connector: webhook
      erp:
        connector: http
        settings:
          base_url: http://erp
    flows:
      orders:
        source: shop
        targets:
          - endpoint: erp
            retry:
              max_attempts: 3
    """
)


def test_base_is_valid(tmp_path: Path) -> None:
    load_config(write(tmp_path, BASE), env={})


def test_unknown_key_is_located_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("max_attempts: 3", "max_attempts: 3\n          retires: 2"))
    [problem] = problems(path)
    assert problem == ConfigProblem(
        "flows.orders.targets[0].retry.retires", "unknown key", str(path), 16, 11
    )
    assert str(problem) == (f"flows.orders.targets[0].retry.retires: unknown key ({path}:16:11)")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "servers: {}\n")
    assert [located(p) for p in problems(path)] == [("servers", 16, 1)]


def test_wrong_type_shows_the_value_written(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("max_attempts: 3", "max_attempts: abc"))
    [problem] = problems(path)
    assert located(problem) == ("flows.orders.targets[0].retry.max_attempts", 15, 25)
    assert problem.message == 'expected an integer, got "abc"'


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        server:
          port: 0
        endpoints:
          erp:
            connector: http
            settings: {base_url: "ftp://erp", concurrency: 0}
        flows:
          orders:
            source: shop
            on_park: wait
            targets:
              - endpoint: erp
                retry: {initial_delay: 5s, max_delay: 1s, jitter: 2}
        """,
    )
    assert [(p.path, p.message, p.line) for p in problems(path)] == [
        ("server.port", "must be >= 1", 3),
        ("endpoints.erp.settings.base_url", "must be an http:// or https:// URL", 7),
        ("endpoints.erp.settings.concurrency", "must be >= 1", 7),
        ("flows.orders.source", 'unknown endpoint "shop"; defined: erp', 10),
        ("flows.orders.on_park", "must be 'hold' or 'skip', got \"wait\"", 11),
        ("flows.orders.targets[0].retry.max_delay", "must be >= initial_delay (5s)", 14),
        ("flows.orders.targets[0].retry.jitter", "must be <= 1", 14),
    ]


def test_missing_required_key_is_located_at_its_parent_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("      base_url: http://erp\n", "      method: PUT\n"))
    [problem] = problems(path)
    assert problem.message == "missing required key"
    assert located(problem) == ("endpoints.erp.settings.base_url", 7, 5)


def test_missing_version_is_located_at_the_document(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("version: 1\n", ""))
    [problem] = problems(path)
    assert (problem.path, problem.message, problem.line) == ("version", "missing required key", 1)


def test_unknown_connector_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("connector: webhook", "connector: ftp"))
    [problem] = problems(path)
    assert located(problem) == ("endpoints.shop.connector", 4, 16)
    assert problem.message == 'unknown connector "ftp"; known: http, poll, webhook'


def test_unknown_auth_type_inside_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        BASE.replace("base_url: http://erp", "base_url: http://erp\n      auth: {type: magic}"),
    )
    [problem] = problems(path)
    assert located(problem) == ("endpoints.erp.settings.auth.type", 9, 20)
    assert problem.message.startswith('unknown type "magic"; known: none, basic, bearer')


def test_error_inside_a_discriminated_union_has_no_tag_in_its_path(tmp_path: Path) -> None:
    auth = "auth: {type: basic, username: 5, password: '${env:P}'}"
    path = write(
        tmp_path, BASE.replace("base_url: http://erp", f"base_url: http://erp\n      {auth}")
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"P": "x"})
    assert [located(p) for p in caught.value.problems] == [
        ("endpoints.erp.settings.auth.username", 9, 37)
    ]


def test_invalid_endpoint_name(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("  shop:\n", "  Shop Front:\n").replace("source: shop", "source: x")
    )
    found = problems(path)
    assert [located(p) for p in found] == [
        ('endpoints["Shop Front"]', 3, 3),
        ("flows.orders.source", 11, 13),
    ]
    assert found[0].message.startswith("must be a name: a lowercase letter")


def test_dangling_endpoint_names_in_sources_and_targets(tmp_path: Path) -> None:
    text = BASE.replace("source: shop", "sources: [shop, crm]").replace(
        "endpoint: erp", "endpoint: dwh"
    )
    found = problems(write(tmp_path, text))
    assert [(p.path, p.message, p.line, p.column) for p in found] == [
        ("flows.orders.sources[1]", 'unknown endpoint "crm"; defined: erp, shop', 11, 21),
        ("flows.orders.targets[0].endpoint", 'unknown endpoint "dwh"; defined: erp, shop', 13, 19),
    ]


def test_same_target_twice_in_a_flow(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "      - endpoint: erp\n")
    [problem] = problems(path)
    assert located(problem) == ("flows.orders.targets[1].endpoint", 16, 19)
    assert problem.message == 'endpoint "erp" is already a target of this flow (targets[0])'


def test_source_and_sources_together(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("source: shop", "source: shop\n    sources: [shop]"))
    [problem] = problems(path)
    assert located(problem) == ("flows.orders", 10, 3)
    assert problem.message == "give either 'source' or 'sources', not both"


def test_a_webhook_burst_without_a_rate_limit_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("connector: webhook", "connector: webhook\n    settings: {burst: 5}")
    [problem] = problems(write(tmp_path, text))
    assert (problem.path, problem.message) == (
        "endpoints.shop.settings",
        "burst sizes a rate limit: give rate_limit too, or leave burst out",
    )


def test_a_lease_no_longer_than_the_targets_timeout_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("base_url: http://erp", "base_url: http://erp\n      timeout: 30s")
    text = text.replace("      - endpoint: erp\n", "      - endpoint: erp\n        lease: 3s\n")
    [problem] = problems(write(tmp_path, text))
    assert located(problem) == ("flows.orders.targets[0].lease", 15, 16)
    assert problem.message.startswith(
        'the lease (3s) must be longer than endpoint "erp"\'s timeout (30s)'
    )


def test_the_default_lease_is_checked_against_a_long_timeout(tmp_path: Path) -> None:
    text = BASE.replace("base_url: http://erp", "base_url: http://erp\n      timeout: 1m")
    [problem] = problems(write(tmp_path, text))
    assert problem.path == "flows.orders.targets[0].endpoint"
    assert "the lease (30s) must be longer" in problem.message


def test_flow_without_targets(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.split("    targets:")[0] + "    targets: []\n")
    [problem] = problems(path)
    assert (problem.path, problem.message) == ("flows.orders.targets", "needs at least 1 item(s)")


def test_duplicate_key_is_located_at_the_second_one(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("  erp:\n", "  shop:\n    connector: http\n  erp:\n", 1))
    [problem] = problems(path)
    assert located(problem) == ("endpoints.shop", 5, 3)
    assert problem.message == "duplicate key (first at line 3)"


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nendpoints:\n  shop: [webhook\n  erp: 1\n")
    [problem] = problems(path)
    assert problem.file == str(path)
    assert (problem.line, problem.column) == (4, 6)
    assert problem.message.startswith("invalid YAML: ")


def test_tab_indentation_is_a_located_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nserver:\n\tport: 1\n")
    [problem] = problems(path)
    assert (problem.line, problem.message.startswith("invalid YAML")) == (3, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        (
            "- version: 1\n",
            "the top level must be a mapping of keys (version, endpoints, flows, ...)",
        ),
        ("just text\n", "the top level must be a mapping of keys (version, endpoints, flows, ...)"),
    ],
)
def test_empty_or_non_mapping_document(tmp_path: Path, text: str, message: str) -> None:
    [problem] = problems(write(tmp_path, text))
    assert problem.message == message


def test_missing_path(tmp_path: Path) -> None:
    [problem] = problems(tmp_path / "nope.yaml")
    assert str(problem) == f"no such file or folder ({tmp_path / 'nope.yaml'})"


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    [problem] = problems(write(tmp_path, "version: 1\njournal: &a {mask: [*a]}\n"))
    assert problem.message.startswith("recursive alias")


def test_folder_with_the_same_name_in_two_files_names_both(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    a = write(folder, "version: 1\nendpoints:\n  shop: {connector: webhook}\n", "a.yaml")
    b = write(folder, "flows: {}\nendpoints:\n  shop: {connector: webhook}\n", "b.yaml")
    [problem] = problems(folder)
    assert problem == ConfigProblem("endpoints.shop", f"already defined in {a}:3:3", str(b), 3, 3)


def test_folder_with_a_section_in_two_files(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    write(folder, "version: 1\nserver: {port: 1}\n", "a.yaml")
    b = write(folder, "version: 1\nserver: {port: 2}\n", "b.yaml")
    [problem] = problems(folder)
    assert (problem.path, problem.file, problem.line) == ("server", str(b), 2)


def test_folder_problems_are_sorted_by_file_then_line(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    write(folder, "server: {port: x}\nversion: 1\n", "b.yaml")
    write(folder, "journal: {retention: -1}\n", "a.yaml")
    found = problems(folder)
    assert [(Path(p.file or "").name, p.line, p.path) for p in found] == [
        ("a.yaml", 1, "journal.retention"),
        ("b.yaml", 1, "server.port"),
    ]


def test_folder_without_yaml_files(tmp_path: Path) -> None:
    [problem] = problems(tmp_path)
    assert (problem.file, problem.line) == (str(tmp_path), None)
    assert "no configuration files" in problem.message


def test_syntax_error_in_one_file_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    write(folder, "version: 1\n", "a.yaml")
    bad = write(folder, "flows: {x: [\n", "b.yaml")
    [problem] = problems(folder)
    assert problem.file == str(bad)


def test_config_error_text_has_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nserver: {port: 0, host: 5}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).splitlines() == [
        f"server.port: must be >= 1 ({path}:2:16)",
        f"server.host: expected a string, got 5 ({path}:2:25)",
    ]
