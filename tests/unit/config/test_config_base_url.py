"""A URL with a port or a host no request can use (an http endpoint's ``base_url``, a
poll endpoint's ``url``, an OAuth2 ``token_url``) is a located configuration error
(``crossdock validate`` says so), not a crash of ``crossdock run`` or a failed send."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossdock.cli.app import app
from crossdock.config import load_config
from crossdock.core.errors import ConfigError

CONFIG = textwrap.dedent(
    """\
    version: 1
    endpoints:
      shop:
        connector: webhook
      erp:
        connector: http
        settings:
          base_url: "{url}"
    flows:
      orders:
        source: shop
        targets:
          - endpoint: erp
    """
)

PORT = "the URL has an invalid port: must be a number from 1 to 65535"
HOST = 'the URL has an invalid host: it holds a space or one of "<>\\^`{|}'
CONTROL = "the URL must not hold control characters (tab, newline)"


def write(folder: Path, url: str) -> Path:
    path = folder / "crossdock.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:99999", PORT),
        ("http://127.0.0.1:abc", PORT),
        ("https://127.0.0.1:-5/", PORT),
        ("http://127.0.0.1:0/api", PORT),
        ("http://[::1]:70000/", PORT),
        ("http://exa mple.com", HOST),
        ("http://exa\\tmple.com/api", CONTROL),
        ("https://erp{x}.example.com", HOST),
    ],
)
def test_bad_port_or_host_is_located(tmp_path: Path, url: str, message: str) -> None:
    path = write(tmp_path, url)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == ("endpoints.erp.settings.base_url", message)
    assert (problem.file, problem.line, problem.column) == (str(path), 8, 17)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1",
        "https://erp.example.com:65535/api/v2",
        "http://[::1]:8080/",
        "http://127.0.0.1:/",  # an empty port is the scheme's default
        "https://bücher.example/",
        "http://erp_test.internal/",
    ],
)
def test_good_base_urls_pass(tmp_path: Path, url: str) -> None:
    load_config(write(tmp_path, url), env={})


def test_validate_refuses_a_bad_port(tmp_path: Path) -> None:
    path = write(tmp_path, "http://127.0.0.1:99999")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "endpoints.erp.settings.base_url: " + PORT in result.output
    assert f"{path}:8:17" in result.output
    assert "Traceback" not in result.output


POLL = textwrap.dedent(
    """\
    version: 1
    endpoints:
      desk:
        connector: poll
        settings:
          url: "{url}"
          interval: 1m
      erp:
        connector: http
        settings:
          base_url: http://127.0.0.1:8099
          auth:
            type: oauth2_client_credentials
            token_url: "{url}"
            client_id: c
            client_secret: ${{env:SECRET}}
    flows:
      tickets:
        source: desk
        targets:
          - endpoint: erp
    """
)


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://127.0.0.1:99999/t", PORT), ("http://de sk/t", HOST), ("http://a\tb/t", CONTROL)],
)
def test_every_url_setting_is_checked(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(POLL.format(url=url), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"SECRET": "s"})
    found = {(p.path, p.message) for p in caught.value.problems}
    assert found == {
        ("endpoints.desk.settings.url", message),
        ("endpoints.erp.settings.auth.token_url", message),
    }
