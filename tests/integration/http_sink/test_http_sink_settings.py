"""The http connector's settings as written in YAML, and building sinks by connector."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from crossdock.config import load_config
from crossdock.config.connectors import HttpSettings, WebhookSettings
from crossdock.connectors import create_sink, sink_factories
from crossdock.connectors.http import HttpSink
from crossdock.core.errors import ConfigError


def settings_problems(tmp_path: Path, settings: str) -> list[tuple[str, str]]:
    path = tmp_path / "crossdock.yaml"
    text = "version: 1\nendpoints:\n  erp:\n    connector: http\n    settings:\n"
    path.write_text(text + textwrap.indent(textwrap.dedent(settings), " " * 6), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"TOKEN": "t"})
    return [(p.path, p.message) for p in caught.value.problems]


def test_defaults_of_the_new_settings() -> None:
    settings = HttpSettings(base_url="https://erp.example.com/api")
    assert settings.response_id is None
    assert (settings.rate_limit, settings.burst, settings.max_error_body) == (None, 1, 2048)
    breaker = settings.breaker
    assert (breaker.threshold, breaker.cooldown, breaker.max_cooldown) == (
        5,
        timedelta(seconds=5),
        timedelta(minutes=5),
    )


def test_all_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            endpoints:
              erp:
                connector: http
                settings:
                  base_url: https://erp.example.com/api/
                  path: /orders/{body.order.id}/lines?src={flow}&evt={event_type}
                  response_id: data.id
                  rate_limit: 2.5
                  burst: 5
                  breaker: {threshold: 3, cooldown: 2s, max_cooldown: 1m}
                  max_error_body: 100
                  auth:
                    type: oauth2_client_credentials
                    token_url: https://login.example.com/token
                    client_id: hub
                    client_secret: ${env:TOKEN}
                    client_auth: basic
            """
        ),
        "utf-8",
    )
    settings = load_config(path, env={"TOKEN": "t"}).endpoints["erp"].settings
    assert isinstance(settings, HttpSettings)
    assert (settings.rate_limit, settings.burst, settings.breaker.threshold) == (2.5, 5, 3)
    assert settings.breaker.max_cooldown == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("settings", "where", "message"),
    [
        ("path: /orders/{order}", "path", "unknown placeholder {order}; known: {key}"),
        ("path: /orders/{body}", "path", "unknown placeholder {body}"),
        ("path: /orders/{key", "path", "'{' and '}' are allowed only around a placeholder"),
        ("path: /orders/a b", "path", "path may hold only URL characters"),
        ("path: /orders#x", "path", "a fragment ('#') is not allowed"),
        ("path: /orders/../admin", "path", "must not have '.' or '..' segments"),
        ("path: orders", "path", "must match ^/"),
        ("base_url: http://u:p@erp", "base_url", "must not hold credentials"),
        ("base_url: http://erp/?a=1", "base_url", "must not have a query or fragment"),
        ("headers: {Authorization: x}", "headers", "Authorization is set by crossdock"),
        ("headers: {X-Crossdock-Attempt: '1'}", "headers", "set by crossdock"),
        ("headers: {x-crossdock-anything: '1'}", "headers", "set by crossdock"),
        ("headers: {'bad header': x}", "headers", "not a valid header name"),
        ("breaker: {cooldown: 1m, max_cooldown: 10s}", "breaker", "at least cooldown"),
        ("breaker: {thershold: 1}", "breaker.thershold", "unknown key"),
        ("breaker: {threshold: 0}", "breaker.threshold", "must be >= 1"),
        ("rate_limit: 0", "rate_limit", "must be > 0"),
        ("burst: 0", "burst", "must be >= 1"),
        ("max_error_body: -1", "max_error_body", "must be >= 0"),
        ("response_id: data..id", "response_id", "must be a dotted path"),
        (
            "auth: {type: basic, username: 'a:b', password: '${env:TOKEN}'}",
            "auth.username",
            "cannot hold ':'",
        ),
    ],
)
def test_invalid_settings_are_located(
    settings: str, where: str, message: str, tmp_path: Path
) -> None:
    if not settings.startswith("base_url"):
        settings = "base_url: http://erp\n" + settings
    [(path, text)] = settings_problems(tmp_path, settings)
    assert path == f"endpoints.erp.settings.{where}"
    assert message in text


def test_an_api_key_header_may_not_be_repeated_in_headers(tmp_path: Path) -> None:
    [(path, text)] = settings_problems(
        tmp_path,
        """\
        base_url: http://erp
        headers: {x-api-key: "1"}
        auth: {type: api_key, header: X-Api-Key, value: "${env:TOKEN}"}
        """,
    )
    assert path == "endpoints.erp.settings"
    assert "header X-Api-Key is set by auth" in text


def test_create_sink_builds_an_http_sink() -> None:
    settings = HttpSettings(base_url="http://127.0.0.1:1")
    sink = create_sink("erp", "http", settings)
    assert isinstance(sink, HttpSink)
    assert (sink.endpoint_name, sink.settings) == ("erp", settings)
    assert "http" in sink_factories


def test_create_sink_refuses_a_connector_without_a_sink() -> None:
    with pytest.raises(ConfigError) as caught:
        create_sink("shop", "webhook", WebhookSettings())
    [problem] = caught.value.problems
    assert problem.path == "endpoints.shop.connector"
    assert problem.message == (
        "connector 'webhook' cannot deliver messages (it has no sink); connectors that can: http"
    )


def test_the_http_factory_wants_http_settings() -> None:
    with pytest.raises(TypeError, match="HttpSettings"):
        create_sink("erp", "http", WebhookSettings())
