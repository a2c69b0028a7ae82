"""docs/intake.md says what the intake does: its examples run and verify here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from intake_kit import serve

from crossdock.config import Config, load_config
from crossdock.config.connectors import signature_schemes
from crossdock.intake import signatures
from crossdock.intake.parsing import parse_xml
from crossdock.intake.signatures import SignatureOptions, verify_standard_webhooks
from crossdock.observability import Metrics

DOC = (Path(__file__).parents[3] / "docs" / "intake.md").read_text(encoding="utf-8")
DOC_ENV = {
    "SHOP_SECRET_OLD": "an-older-secret",
    "SHOP_SECRET": "my-shared-secret",
    "BILLING_WHSEC": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def run_block(marker: str) -> dict[str, Any]:
    [code] = [b for b in blocks("python") if marker in b]
    namespace: dict[str, Any] = {"__name__": "docs"}
    exec(compile(code, "intake.md", "exec", dont_inherit=True), namespace)
    return namespace


def doc_config(tmp_path: Path) -> Config:
    [text] = blocks("yaml")
    path = tmp_path / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=DOC_ENV)


async def test_the_sha256_example_is_accepted_by_the_configured_intake(tmp_path: Path) -> None:
    example = run_block('assert signature == "ca1a')
    async with serve(doc_config(tmp_path), tmp_path / "crossdock.db") as intake:
        reply = await intake.post("shop", example["body"], example["headers"])
        assert reply.status == 202, reply.json
        [summary] = await intake.stored()
        assert (summary.flow, summary.key) == ("orders", "42")
        tampered = example["body"].replace(b"42", b"43")
        reply = await intake.post("shop", tampered, example["headers"])
        assert (reply.status, reply.json["detail"]) == (401, "bad signature")


def test_the_openssl_example_gives_the_same_signature() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    [console] = [b for b in blocks("console") if "openssl" in b]
    command, expected = console.strip().splitlines()
    result = subprocess.run(
        ["sh", "-c", command.removeprefix("$ ")], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("= ")[-1].strip() == expected.split("= ")[-1].strip()


async def test_the_standard_webhooks_example_verifies(tmp_path: Path) -> None:
    example = run_block("webhook-signature")
    body, headers, stamp = example["body"], example["headers"], example["timestamp"]
    lowered = {k.lower(): v for k, v in headers.items()}
    secrets = [DOC_ENV["BILLING_WHSEC"].encode()]
    options = SignatureOptions(None, 300.0)
    assert verify_standard_webhooks(lowered, body, secrets, stamp + 299, options) is None
    async with serve(doc_config(tmp_path), tmp_path / "crossdock.db") as intake:
        # The example is from 2021: the signature matches (it is checked first), and
        # then the timestamp is refused as stale.
        reply = await intake.post("billing", body, {**headers, "Content-Type": "application/json"})
        assert (reply.status, reply.json["detail"]) == (401, "stale timestamp")
        assert await intake.stored() == []


async def test_the_plug_in_example_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signatures, "_verifiers", dict(signatures._verifiers))
    monkeypatch.setattr(signature_schemes, "_names", set(signature_schemes._names))
    run_block("register_signature_scheme(")
    text = (
        "version: 1\nendpoints:\n  acme:\n    connector: webhook\n"
        "    settings: {signature: acme, secrets: ['${env:ACME}']}\n"
        "  erp: {connector: http, settings: {base_url: 'http://127.0.0.1:9'}}\n"
        "flows:\n  f: {source: acme, targets: [{endpoint: erp}]}\n"
    )
    (tmp_path / "crossdock.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "crossdock.yaml", env={"ACME": "acme-secret"})
    body = b'{"a": 1}'
    good = signatures.sign_sha256(b"acme-secret", body)
    async with serve(config, tmp_path / "crossdock.db") as intake:
        headers = {"Content-Type": "application/json", "X-Acme-Signature": good}
        assert (await intake.post("acme", body, headers)).status == 202
        headers["X-Acme-Signature"] = good[::-1]
        assert (await intake.post("acme", body, headers)).status == 401


def test_the_xml_convention_example() -> None:
    [text] = [b for b in blocks("text") if "->" in b]
    xml, expected = (part.strip() for part in text.split("->"))
    assert parse_xml(xml.encode(), 32) == orjson.loads(expected)


def test_every_metric_is_listed() -> None:
    listed = set(re.findall(r"^\| `(crossdock_[a-z_]+)`", DOC, flags=re.MULTILINE))
    exposed = set()
    for family in Metrics().registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        exposed.add(family.name + suffix)
    assert listed == exposed


def test_every_refusal_code_is_documented() -> None:
    folder = Path(__file__).parents[3] / "src" / "crossdock" / "intake"
    source = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.py"))
    used = set(re.findall(r'Refusal\(\s*\d{3},\s*"([a-z_]+)"', source))
    assert len(used) >= 10
    assert used | {"internal_error"} <= set(re.findall(r"`([a-z_]+)`", DOC))
