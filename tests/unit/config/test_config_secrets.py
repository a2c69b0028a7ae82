"""Secret references: only references in secret fields, resolved at load, never echoed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from crossdock.config import HttpSettings, WebhookSettings, load_config
from crossdock.config.connectors import BearerAuth
from crossdock.core.errors import ConfigError, ConfigProblem

LITERAL = "s3cr3t-Literal-Value"


def config_text(token: str, base_url: str = "http://127.0.0.1:8099") -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        endpoints:
          erp:
            connector: http
            settings:
              base_url: {base_url}
              auth:
                type: bearer
                token: {token}
        """
    )


def write(folder: Path, text: str, name: str = "crossdock.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def token_of(path: Path, **kwargs: object) -> SecretStr:
    settings = load_config(path, **kwargs).endpoints["erp"].settings  # type: ignore[arg-type]
    assert isinstance(settings, HttpSettings)
    assert isinstance(settings.auth, BearerAuth)
    return settings.auth.token


def problems(path: Path, env: dict[str, str]) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    return caught.value.problems


def test_env_reference_is_resolved(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("${env:ERP_TOKEN}"))
    assert token_of(path, env={"ERP_TOKEN": "abc"}).get_secret_value() == "abc"


def test_missing_env_var_names_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("${env:ERP_TOKEN}"))
    [problem] = problems(path, env={})
    assert problem == ConfigProblem(
        "endpoints.erp.settings.auth.token", "${env:ERP_TOKEN} is not set", str(path), 9, 16
    )


def test_literal_secret_is_refused_and_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, config_text(LITERAL))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [problem] = caught.value.problems
    assert problem.path == "endpoints.erp.settings.auth.token"
    assert problem.message == "literal secret refused: use ${env:NAME} or ${file:PATH}"
    assert (problem.line, problem.column) == (9, 16)
    assert LITERAL not in str(caught.value)
    assert LITERAL not in repr(caught.value.problems)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize("literal", ["12345678", "[a, b]", "{k: v}", "'prefix ${env:T}'"])
def test_other_non_references_are_refused_too(tmp_path: Path, literal: str) -> None:
    path = write(tmp_path, config_text(literal))
    [problem] = problems(path, env={"T": "x"})
    assert problem.path == "endpoints.erp.settings.auth.token"
    assert "${env:NAME} or ${file:PATH}" in problem.message


def test_literal_in_a_list_of_secrets_is_refused_without_echo(tmp_path: Path) -> None:
    text = (
        "version: 1\nendpoints:\n  shop:\n    connector: webhook\n    settings:\n"
        f"      secrets: ['${{env:A}}', {LITERAL}]\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"A": "a"})
    assert [p.path for p in caught.value.problems] == ["endpoints.shop.settings.secrets[1]"]
    assert LITERAL not in str(caught.value)


def test_file_reference_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "erp_token").write_text("from-file\n\n", encoding="utf-8")
    path = write(tmp_path, config_text("${file:secrets/erp_token}"))
    assert token_of(path, env={}).get_secret_value() == "from-file\n"


def test_file_reference_with_an_absolute_path(tmp_path: Path) -> None:
    secret = tmp_path / "abs_token"
    secret.write_text("abs\r\n", encoding="utf-8")
    path = write(tmp_path, config_text(f"${{file:{secret}}}"))
    assert token_of(path, env={}).get_secret_value() == "abs"


def test_unreadable_file_reference_names_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("${file:missing/token}"))
    [problem] = problems(path, env={})
    assert problem.message == "cannot read ${file:missing/token}: no such file"


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("${vault:erp}"))
    found = problems(path, env={})
    assert "invalid reference ${vault:erp}: use ${env:NAME} or ${file:PATH}" in [
        p.message for p in found
    ]


def test_references_in_ordinary_fields_are_resolved(tmp_path: Path) -> None:
    text = config_text("${env:T}", base_url="${env:ERP_URL}/api")
    settings = load_config(write(tmp_path, text), env={"T": "t", "ERP_URL": "https://erp"})
    erp = settings.endpoints["erp"].settings
    assert isinstance(erp, HttpSettings)
    assert erp.base_url == "https://erp/api"
    assert type(erp.base_url) is str


def test_invalid_value_from_a_reference_shows_the_reference(tmp_path: Path) -> None:
    text = "version: 1\nserver: {port: '${env:PORT}'}\n"
    [problem] = problems(write(tmp_path, text), env={"PORT": "not-a-port"})
    assert problem.message == 'expected an integer, got "${env:PORT}"'


def test_dollar_dollar_escapes_a_reference(tmp_path: Path) -> None:
    text = "version: 1\nserver: {host: '$${env:HOST}'}\n"
    assert load_config(write(tmp_path, text), env={}).server.host == "${env:HOST}"


def test_without_resolving_secrets_keeps_references_but_resolves_other_fields(
    tmp_path: Path,
) -> None:
    text = config_text("${env:ERP_TOKEN}", base_url="${env:ERP_URL}")
    path = write(tmp_path, text)
    config = load_config(path, resolve_secrets=False, env={"ERP_URL": "http://erp"})
    settings = config.endpoints["erp"].settings
    assert isinstance(settings, HttpSettings)
    assert settings.base_url == "http://erp"
    assert isinstance(settings.auth, BearerAuth)
    assert settings.auth.token.get_secret_value() == "${env:ERP_TOKEN}"


def test_without_resolving_secrets_literals_are_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, config_text(LITERAL))
    with pytest.raises(ConfigError) as caught:
        load_config(path, resolve_secrets=False, env={})
    assert [p.path for p in caught.value.problems] == ["endpoints.erp.settings.auth.token"]


def test_webhook_signature_needs_a_secret(tmp_path: Path) -> None:
    text = (
        "version: 1\nendpoints:\n  shop:\n    connector: webhook\n"
        "    settings: {signature: sha256}\n"
    )
    [problem] = problems(write(tmp_path, text), env={})
    assert (problem.path, problem.message) == (
        "endpoints.shop.settings.signature",
        "signature sha256 needs at least one secret",
    )


def test_settings_models_refuse_literals_when_built_directly() -> None:
    with pytest.raises(ValidationError, match="literal secret refused") as caught:
        WebhookSettings.model_validate({"secrets": [LITERAL]})
    assert LITERAL not in str(caught.value)
    assert LITERAL not in repr(caught.value)
