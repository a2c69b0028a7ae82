"""The registry of connector settings models, and the two built-in connectors' settings.

An endpoint's ``connector`` key selects the model that validates its ``settings``. A
connector package plugs in with::

    register_connector_settings("servicenow", ServiceNowSettings)

before the configuration is loaded. The registry also drives the JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crossdock.config.types import (
    NAME_PATTERN,
    ConfigModel,
    Duration,
    HttpUrlStr,
    Secret,
)

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "ConnectorRegistry",
    "ConnectorSettings",
    "HttpAuth",
    "HttpSettings",
    "NoAuth",
    "OAuth2ClientCredentials",
    "WebhookSettings",
    "connector_settings",
    "register_connector_settings",
]


class ConnectorSettings(ConfigModel):
    """Base of a connector's settings model (unknown keys refused, frozen).

    The class docstring becomes the connector's description in the JSON Schema; every
    field should have a ``Field(description=...)``.
    """


class ConnectorRegistry(Mapping[str, type[ConnectorSettings]]):
    """Connector name -> settings model. Read it like a mapping (iterated in name order);
    add with `register`."""

    def __init__(self) -> None:
        self._models: dict[str, type[ConnectorSettings]] = {}

    def register(self, name: str, model: type[ConnectorSettings]) -> None:
        """Make `name` a valid ``connector`` value whose settings `model` validates.

        Registering the same model twice is a no-op; another model under a taken name,
        a malformed name, or a model that accepts unknown keys is a ValueError.
        """
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(f"invalid connector name {name!r}: must match {NAME_PATTERN}")
        if not (isinstance(model, type) and issubclass(model, ConnectorSettings)):
            raise ValueError(f"connector {name!r}: settings must subclass ConnectorSettings")
        if model.model_config.get("extra") != "forbid":
            raise ValueError(f"connector {name!r}: settings must refuse unknown keys")
        existing = self._models.get(name)
        if existing is model:
            return
        if existing is not None:
            raise ValueError(f"connector {name!r} is already registered ({existing.__name__})")
        self._models[name] = model

    def __getitem__(self, name: str) -> type[ConnectorSettings]:
        return self._models[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._models))

    def __len__(self) -> int:
        return len(self._models)


connector_settings = ConnectorRegistry()
"""The process-wide registry used by `load_config` and `config_json_schema`."""


def register_connector_settings(name: str, model: type[ConnectorSettings]) -> None:
    """Register a connector's settings model in the process-wide registry."""
    connector_settings.register(name, model)


# -- webhook --------------------------------------------------------------------------


class WebhookSettings(ConnectorSettings):
    """Receives messages as HTTP POST requests on /hooks/{endpoint}."""

    secrets: tuple[Secret, ...] = Field(
        default=(),
        description="HMAC secrets that sign incoming requests. Several may be given while "
        "a secret is rotated: a request signed with any of them is accepted.",
    )
    signature: Literal["none", "sha256", "standard-webhooks"] = Field(
        default="none",
        description="How requests are signed: 'none' (not checked), 'sha256' (hex HMAC-SHA256 "
        "of the body) or 'standard-webhooks' (the Standard Webhooks scheme). Anything "
        "but 'none' needs at least one secret.",
    )
    idempotency_header: str | None = Field(
        default=None,
        description="Request header whose value identifies a delivery attempt of the sender; "
        "a repeated value is accepted once.",
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Largest accepted request body for this endpoint; default: "
        "server.max_body_bytes.",
    )

    @field_validator("signature")
    @classmethod
    def _signature_needs_secrets(cls, value: str, info: ValidationInfo) -> str:
        secrets = info.data.get("secrets")
        if value != "none" and secrets is not None and not secrets:
            raise PydanticCustomError(
                "signature_without_secrets",
                "signature {signature} needs at least one secret",
                {"signature": value},
            )
        return value


# -- http -----------------------------------------------------------------------------


class NoAuth(ConfigModel):
    """No authentication."""

    type: Literal["none"] = Field(description="Authentication scheme.")


class BasicAuth(ConfigModel):
    """HTTP Basic authentication."""

    type: Literal["basic"] = Field(description="Authentication scheme.")
    username: str = Field(description="User name.")
    password: Secret = Field(description="Password (a secret reference).")


class BearerAuth(ConfigModel):
    """A bearer token in the Authorization header."""

    type: Literal["bearer"] = Field(description="Authentication scheme.")
    token: Secret = Field(description="Token (a secret reference).")


class ApiKeyAuth(ConfigModel):
    """An API key sent in a request header."""

    type: Literal["api_key"] = Field(description="Authentication scheme.")
    header: str = Field(description="Name of the header that carries the key.")
    value: Secret = Field(description="The key (a secret reference).")


class OAuth2ClientCredentials(ConfigModel):
    """OAuth 2 client-credentials grant; the access token is fetched and renewed."""

    type: Literal["oauth2_client_credentials"] = Field(description="Authentication scheme.")
    token_url: HttpUrlStr = Field(description="Token endpoint of the authorization server.")
    client_id: str = Field(description="Client id.")
    client_secret: Secret = Field(description="Client secret (a secret reference).")
    scope: str | None = Field(default=None, description="Space-separated scopes to request.")


HttpAuth = Annotated[
    NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials,
    Field(discriminator="type"),
]


class HttpSettings(ConnectorSettings):
    """Delivers messages to a system over HTTP."""

    base_url: HttpUrlStr = Field(description="Base URL of the system, http:// or https://.")
    method: Literal["POST", "PUT", "PATCH"] = Field(
        default="POST", description="HTTP method of a delivery."
    )
    path: str = Field(
        default="/",
        pattern=r"^/",
        description="Path appended to base_url for a delivery; starts with '/'.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (not for credentials: use auth)."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="Time allowed for one request, end to end."
    )
    concurrency: int = Field(
        default=8, ge=1, description="Most requests in flight to this endpoint at once."
    )
    auth: HttpAuth = Field(
        default_factory=lambda: NoAuth(type="none"),
        description="How requests authenticate, chosen by 'type': none, basic, bearer, "
        "api_key or oauth2_client_credentials.",
    )


register_connector_settings("webhook", WebhookSettings)
register_connector_settings("http", HttpSettings)
