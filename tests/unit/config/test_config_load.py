"""Loading valid configurations: defaults, typed settings, folders, relative paths."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from crossdock.config import (
    Config,
    HttpSettings,
    JournalSettings,
    RetrySettings,
    ServerSettings,
    WebhookSettings,
    load_config,
)
from crossdock.config.connectors import BearerAuth, NoAuth

ENV = {"ERP_TOKEN": "t0ken-value"}


def write(folder: Path, text: str, name: str = "crossdock.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """\
    version: 1
    endpoints:
      shop:
        connector: webhook
      erp:
        connector: http
        settings:
          base_url: http://127.0.0.1:8099
    flows:
      orders:
        source: shop
        targets:
          - endpoint: erp
    """


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})

    assert isinstance(config, Config)
    assert config.version == 1
    assert config.store.path == tmp_path / "crossdock.db"
    assert config.journal == JournalSettings(
        retention=timedelta(days=7), keep_payloads=True, mask=()
    )
    assert config.server == ServerSettings(host="127.0.0.1", port=8080, max_body_bytes=1048576)
    flow = config.flows["orders"]
    assert flow.sources == ("shop",)
    assert flow.key is None
    assert flow.on_park == "hold"
    target = flow.targets[0]
    assert target.endpoint == "erp"
    assert target.lease == timedelta(seconds=30)
    assert target.retry == RetrySettings(
        max_attempts=8,
        initial_delay=timedelta(seconds=1),
        max_delay=timedelta(minutes=10),
        multiplier=2.0,
        jitter=0.2,
        max_age=timedelta(hours=24),
    )


def test_endpoint_settings_are_the_connectors_model_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})

    shop = config.endpoints["shop"].settings
    assert isinstance(shop, WebhookSettings)
    assert (shop.secrets, shop.signature, shop.idempotency_header) == ((), "none", None)
    erp = config.endpoints["erp"].settings
    assert isinstance(erp, HttpSettings)
    assert (erp.method, erp.path, erp.headers) == ("POST", "/", {})
    assert (erp.timeout, erp.concurrency) == (timedelta(seconds=10), 8)
    assert erp.auth == NoAuth(type="none")


def test_full_config_keeps_every_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        store: {path: /var/lib/crossdock/hub.db}
        journal: {retention: 30d, keep_payloads: false, mask: [password, card_number]}
        server: {host: 0.0.0.0, port: 9000, max_body_bytes: 2048}
        endpoints:
          shop:
            connector: webhook
            description: The web shop
            settings:
              secrets: ["${env:SHOP_OLD}", "${env:SHOP_NEW}"]
              signature: standard-webhooks
              idempotency_header: Idempotency-Key
              max_body_bytes: 4096
          erp:
            connector: http
            settings:
              base_url: https://erp.example.com/api
              method: PUT
              path: /orders
              headers: {X-Tenant: acme}
              timeout: 1500ms
              concurrency: 2
              auth: {type: bearer, token: "${env:ERP_TOKEN}"}
        flows:
          orders:
            description: Orders to the ERP
            sources: [shop]
            key: order.id
            on_park: skip
            targets:
              - endpoint: erp
                retry: {max_attempts: 3, initial_delay: 2s, max_delay: 1m,
                        multiplier: 1.5, jitter: 0, max_age: 1h30m}
                lease: 45s
        """,
    )
    config = load_config(path, env={"SHOP_OLD": "a", "SHOP_NEW": "b", **ENV})

    assert config.store.path == Path("/var/lib/crossdock/hub.db")
    assert config.journal.mask == ("password", "card_number")
    assert config.server.port == 9000
    shop = config.endpoints["shop"]
    assert shop.description == "The web shop"
    assert isinstance(shop.settings, WebhookSettings)
    assert [s.get_secret_value() for s in shop.settings.secrets] == ["a", "b"]
    erp = config.endpoints["erp"].settings
    assert isinstance(erp, HttpSettings)
    assert erp.timeout == timedelta(milliseconds=1500)
    assert isinstance(erp.auth, BearerAuth)
    assert erp.auth.token.get_secret_value() == "t0ken-value"
    flow = config.flows["orders"]
    assert (flow.key, flow.on_park) == ("order.id", "skip")
    assert flow.targets[0].retry.max_age == timedelta(hours=1, minutes=30)
    assert flow.targets[0].retry.jitter == 0
    assert flow.targets[0].lease == timedelta(seconds=45)


def test_relative_store_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    text = MINIMAL.replace("version: 1\n", "version: 1\n    store: {path: data/hub.db}\n")
    config = load_config(write(tmp_path / "conf", text), env={})
    assert config.store.path == tmp_path / "conf" / "data" / "hub.db"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_folder_of_files_is_merged(tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    write(folder, "version: 1\nstore: {path: hub.db}\n", "00-base.yaml")
    write(folder, "version: 1\nendpoints:\n  shop: {connector: webhook}\n", "10-shop.yml")
    write(
        folder,
        """\
        endpoints:
          erp: {connector: http, settings: {base_url: "http://erp"}}
        flows:
          orders: {source: shop, targets: [{endpoint: erp}]}
        """,
        "20-erp.yaml",
    )
    write(folder, "not: [valid", ".hidden.yaml")
    write(folder, "not: [valid", "notes.txt")

    config = load_config(folder, env={})

    assert sorted(config.endpoints) == ["erp", "shop"]
    assert list(config.flows) == ["orders"]
    assert config.store.path == folder / "hub.db"


def test_secret_values_are_masked_in_repr_and_dump(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "base_url: http://127.0.0.1:8099",
        "base_url: http://127.0.0.1:8099\n"
        "          auth: {type: bearer, token: '${env:ERP_TOKEN}'}",
    )
    config = load_config(write(tmp_path, text), env=ENV)
    settings = config.endpoints["erp"].settings
    assert isinstance(settings, HttpSettings)
    assert isinstance(settings.auth, BearerAuth)
    assert isinstance(settings.auth.token, SecretStr)
    assert "t0ken-value" not in repr(config)
    assert "t0ken-value" not in config.model_dump_json()


def test_yaml_merge_keys_are_honoured(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        endpoints:
          shop: {connector: webhook}
          erp: {connector: http, settings: {base_url: "http://erp"}}
          crm: {connector: http, settings: {base_url: "http://crm"}}
        flows:
          orders:
            source: shop
            targets:
              - &slow {endpoint: erp, lease: 5m, retry: {max_attempts: 2}}
              - {<<: *slow, endpoint: crm}
        """,
    )
    targets = load_config(path, env={}).flows["orders"].targets
    assert [(t.endpoint, t.lease, t.retry.max_attempts) for t in targets] == [
        ("erp", timedelta(minutes=5), 2),
        ("crm", timedelta(minutes=5), 2),
    ]
