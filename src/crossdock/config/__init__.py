"""Configuration: YAML loading, secret references, located validation, JSON Schema.

    config = load_config("crossdock.yaml")      # raises ConfigError with every problem

Connector packages register their settings model with `register_connector_settings`
before loading. Everything not re-exported here is internal.
"""

from __future__ import annotations

from crossdock.config.connectors import (
    ConnectorSettings,
    HttpSettings,
    WebhookSettings,
    connector_settings,
    register_connector_settings,
)
from crossdock.config.loader import load_config
from crossdock.config.model import (
    Config,
    Endpoint,
    Flow,
    JournalSettings,
    RetrySettings,
    ServerSettings,
    StoreSettings,
    Target,
)
from crossdock.config.schema import config_json_schema
from crossdock.config.types import Duration, Secret, format_duration, parse_duration

__all__ = [
    "Config",
    "ConnectorSettings",
    "Duration",
    "Endpoint",
    "Flow",
    "HttpSettings",
    "JournalSettings",
    "RetrySettings",
    "Secret",
    "ServerSettings",
    "StoreSettings",
    "Target",
    "WebhookSettings",
    "config_json_schema",
    "connector_settings",
    "format_duration",
    "load_config",
    "parse_duration",
    "register_connector_settings",
]
