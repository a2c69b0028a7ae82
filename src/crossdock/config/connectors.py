"""The registry of connector settings models, and the two built-in connectors' settings.

An endpoint's ``connector`` key selects the model that validates its ``settings``. A
connector package plugs in with::

    register_connector_settings("servicenow", ServiceNowSettings)

before the configuration is loaded. The registry also drives the JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from crossdock.config.types import (
    NAME_PATTERN,
    ConfigModel,
    Duration,
    HttpUrlStr,
    KeyPath,
    Secret,
)

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "BreakerSettings",
    "ConnectorRegistry",
    "ConnectorSettings",
    "HttpAuth",
    "HttpSettings",
    "NoAuth",
    "OAuth2ClientCredentials",
    "SignatureSchemeNames",
    "WebhookSettings",
    "connector_settings",
    "register_connector_settings",
    "signature_schemes",
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

SIGNATURE_SCHEME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"


class SignatureSchemeNames:
    """The names a webhook's ``signature`` may take.

    Only names live here (the configuration layer must not import the intake); the
    verifier functions are registered with ``crossdock.intake.register_signature_scheme``,
    which also adds the name here. ``none`` is always valid.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: set[str] = {"none", *names}

    def add(self, name: str) -> None:
        if not re.fullmatch(SIGNATURE_SCHEME_PATTERN, name):
            raise ValueError(f"invalid signature scheme name {name!r}")
        self._names.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))


signature_schemes = SignatureSchemeNames(("sha256", "standard-webhooks"))
"""Valid values of `WebhookSettings.signature` (the built-in schemes and plugged-in ones)."""

ContentKind = Literal["json", "form", "xml"]


class WebhookSettings(ConnectorSettings):
    """Receives messages as HTTP POST requests on /hooks/{endpoint}."""

    secrets: tuple[Secret, ...] = Field(
        default=(),
        description="HMAC secrets that sign incoming requests. Several may be given while "
        "a secret is rotated: a request signed with any of them is accepted.",
    )
    signature: str = Field(
        default="none",
        pattern=SIGNATURE_SCHEME_PATTERN,
        description="How requests are signed: 'none' (not checked), 'sha256' (HMAC-SHA256 "
        "of the body, in hex, in signature_header), 'standard-webhooks' (the Standard "
        "Webhooks scheme) or a scheme plugged in by a connector. Anything but 'none' needs "
        "at least one secret.",
        json_schema_extra={"examples": ["none", "sha256", "standard-webhooks"]},
    )
    signature_header: str | None = Field(
        default=None,
        min_length=1,
        description="Request header holding the signature; default: the scheme's own "
        "(X-Signature for sha256). Standard Webhooks always uses its webhook-* headers.",
    )
    tolerance: Duration = Field(
        default=timedelta(minutes=5),
        description="Largest difference between a signed timestamp and the hub's clock "
        "(Standard Webhooks); older or newer requests are refused.",
    )
    idempotency_header: str | None = Field(
        default=None,
        min_length=1,
        description="Request header whose value identifies a delivery attempt of the sender; "
        "a repeated value is accepted once.",
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Largest accepted request body for this endpoint; default: "
        "server.max_body_bytes.",
    )
    content_types: tuple[ContentKind, ...] = Field(
        default=("json", "form"),
        min_length=1,
        description="Accepted request bodies: 'json' (application/json, */*+json), 'form' "
        "(application/x-www-form-urlencoded) and 'xml' (application/xml, text/xml, */*+xml).",
    )
    max_depth: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Deepest nesting of objects and arrays accepted in a body.",
    )
    event_type: str = Field(
        default="message.received",
        min_length=1,
        description="Event type of the messages this endpoint receives (unless "
        "event_type_header is set).",
    )
    event_type_header: str | None = Field(
        default=None,
        min_length=1,
        description="Request header naming the event type (e.g. X-GitHub-Event). Only the "
        "values listed in event_types are accepted; requests without one are refused.",
    )
    event_types: tuple[str, ...] = Field(
        default=(),
        description="The event types accepted from event_type_header.",
    )
    correlation_header: str | None = Field(
        default=None,
        min_length=1,
        description="Request header carrying a correlation id (e.g. X-Correlation-ID): "
        "kept with the message, searchable, and sent on by targets that name a "
        "correlation_header. 1 to 200 visible ASCII characters (empty: none); anything else "
        "is refused.",
    )
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="Most webhooks accepted per second on average from this endpoint; "
        "beyond it they are answered 429 with Retry-After. None: no limit.",
    )
    burst: int | None = Field(
        default=None,
        ge=1,
        description="Most webhooks accepted at once after a quiet spell (bucket size); "
        "default: one second's worth of rate_limit.",
    )

    @field_validator("signature")
    @classmethod
    def _signature_needs_secrets(cls, value: str, info: ValidationInfo) -> str:
        if value not in signature_schemes:
            raise PydanticCustomError(
                "unknown_signature_scheme",
                "unknown signature scheme {signature}; known: {known}",
                {"signature": value, "known": ", ".join(signature_schemes)},
            )
        secrets = info.data.get("secrets")
        if value != "none" and secrets is not None and not secrets:
            raise PydanticCustomError(
                "signature_without_secrets",
                "signature {signature} needs at least one secret",
                {"signature": value},
            )
        return value

    @model_validator(mode="after")
    def _event_types_with_their_header(self) -> WebhookSettings:
        if (self.event_type_header is None) != (not self.event_types):
            raise PydanticCustomError(
                "event_type_header_without_values",
                "event_type_header and event_types go together: give both or neither",
            )
        if self.burst is not None and self.rate_limit is None:
            raise PydanticCustomError(
                "burst_without_rate_limit",
                "burst sizes a rate limit: give rate_limit too, or leave burst out",
            )
        return self


# -- http -----------------------------------------------------------------------------

#: A placeholder of `HttpSettings.path`: ``{key}``, ``{id}``, ``{flow}``, ``{event_type}``
#: or ``{body.<dotted path>}``. The sink (``crossdock.connectors.http``) reads this grammar.
PATH_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PATH_FIELDS = ("key", "id", "flow", "event_type")
_BODY_PATH = re.compile(r"body(\.[^.{}]+)+")
_PATH_LITERAL = re.compile(r"([A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = frozenset(
    {"authorization", "connection", "content-length", "host", "idempotency-key"}
    | {"transfer-encoding"}
)


def _path_template_problem(template: str) -> str | None:
    """What is wrong with a path template, or None."""
    if "#" in template:
        return "a fragment ('#') is not allowed in path"
    steps = template.partition("?")[0].split("/")
    if any(unquote(step) in (".", "..") for step in steps):
        return "path must not have '.' or '..' segments"
    for name in PATH_PLACEHOLDER.findall(template):
        if name not in PATH_FIELDS and not _BODY_PATH.fullmatch(name):
            return (
                f"unknown placeholder {{{name}}}; known: {{key}}, {{id}}, {{flow}}, "
                "{event_type}, {body.<dotted path>}"
            )
    for literal in PATH_PLACEHOLDER.split(template)[::2]:
        if "{" in literal or "}" in literal:
            return "'{' and '}' are allowed only around a placeholder such as {key}"
        if not _PATH_LITERAL.fullmatch(literal):
            return "path may hold only URL characters; percent-encode others (%20 for a space)"
    return None


def _header_problem(name: str, value: str) -> str | None:
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid header name"
    if any(c in value for c in "\r\n\0"):
        return f"the value of header {name} holds a line break or NUL"
    if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-crossdock-"):
        return f"header {name} is set by crossdock (use auth for credentials)"
    return None


def _checked_headers(value: dict[str, str]) -> dict[str, str]:
    """Configured extra headers, refused at the first bad name or value."""
    for name, text in value.items():
        problem = _header_problem(name, text)
        if problem is not None:
            raise PydanticCustomError("header", "{problem}", {"problem": problem})
    return value


class NoAuth(ConfigModel):
    """No authentication."""

    type: Literal["none"] = Field(description="Authentication scheme.")


class BasicAuth(ConfigModel):
    """HTTP Basic authentication."""

    type: Literal["basic"] = Field(description="Authentication scheme.")
    username: str = Field(description="User name (without ':').")
    password: Secret = Field(description="Password (a secret reference).")

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise PydanticCustomError("basic_username", "a Basic user name cannot hold ':'")
        return value


class BearerAuth(ConfigModel):
    """A bearer token in the Authorization header."""

    type: Literal["bearer"] = Field(description="Authentication scheme.")
    token: Secret = Field(description="Token (a secret reference).")


class ApiKeyAuth(ConfigModel):
    """An API key sent in a request header."""

    type: Literal["api_key"] = Field(description="Authentication scheme.")
    header: str = Field(
        description="Name of the header that carries the key (e.g. X-Api-Key, or "
        "Authorization for a key with its own scheme word).",
    )
    value: Secret = Field(description="The key (a secret reference).")

    @field_validator("header")
    @classmethod
    def _valid_header(cls, value: str) -> str:
        problem = _header_problem(value, "")
        if problem is not None and value.lower() != "authorization":
            raise PydanticCustomError("api_key_header", "{problem}", {"problem": problem})
        return value


class OAuth2ClientCredentials(ConfigModel):
    """OAuth 2 client-credentials grant; the access token is fetched and renewed."""

    type: Literal["oauth2_client_credentials"] = Field(description="Authentication scheme.")
    token_url: HttpUrlStr = Field(description="Token endpoint of the authorization server.")
    client_id: str = Field(description="Client id.")
    client_secret: Secret = Field(description="Client secret (a secret reference).")
    scope: str | None = Field(default=None, description="Space-separated scopes to request.")
    client_auth: Literal["body", "basic"] = Field(
        default="body",
        description="How the client authenticates to the token endpoint: 'body' "
        "(client_id and client_secret in the form) or 'basic' (HTTP Basic).",
    )


HttpAuth = Annotated[
    NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials,
    Field(discriminator="type"),
]


class BreakerSettings(ConfigModel):
    """Circuit breaker of an endpoint: stop spending attempts on a target that is down."""

    threshold: int = Field(
        default=5, ge=1, description="Consecutive transient failures that open the breaker."
    )
    cooldown: Duration = Field(
        default=timedelta(seconds=5),
        description="Wait before the first probe once open; doubles after each failed probe.",
    )
    max_cooldown: Duration = Field(
        default=timedelta(minutes=5), description="Longest wait between two probes."
    )
    auth_probe: Duration = Field(
        default=timedelta(seconds=30),
        description="While the endpoint is paused because it refused our credentials "
        "(401/403), one delivery is tried this often; the endpoint resumes when it succeeds.",
    )

    @model_validator(mode="after")
    def _cooldowns_in_order(self) -> BreakerSettings:
        if self.max_cooldown < self.cooldown:
            raise PydanticCustomError(
                "max_cooldown_too_short", "max_cooldown must be at least cooldown"
            )
        return self


class HttpSettings(ConnectorSettings):
    """Delivers messages to a system over HTTP."""

    base_url: HttpUrlStr = Field(
        description="Base URL of the system, http:// or https://, without credentials, query "
        "or fragment. Scheme, host and port of every request come from here only."
    )
    method: Literal["POST", "PUT", "PATCH"] = Field(
        default="POST", description="HTTP method of a delivery."
    )
    path: str = Field(
        default="/",
        pattern=r"^/",
        description="URL template appended to base_url; starts with '/'. Placeholders "
        "{key}, {id}, {flow}, {event_type} and {body.<dotted path>} are filled from the "
        "message, each value percent-encoded as one path segment (or query value).",
        examples=["/orders/{body.order.id}", "/tickets/{key}/comments?source={flow}"],
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
    response_id: KeyPath | None = Field(
        default=None,
        description="Dotted path into a JSON answer giving the record's id in the target "
        "(e.g. data.id); recorded with the delivery.",
    )
    correlation_header: str | None = Field(
        default=None,
        min_length=1,
        description="Request header in which to send the message's correlation id (its "
        "own id when it came without one), e.g. X-Correlation-ID; none: not sent.",
    )
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="Most requests per second on average, for the whole hub (with --workers N "
        "each worker takes an even share of it and of burst); none: no limit.",
    )
    burst: int = Field(
        default=1, ge=1, description="Most requests sent at once after a quiet spell (bucket size)."
    )
    breaker: BreakerSettings = Field(
        default_factory=BreakerSettings,
        description="Circuit breaker: after threshold transient failures in a row, wait "
        "cooldown before one probe.",
    )
    max_error_body: int = Field(
        default=2048,
        ge=0,
        le=1_048_576,
        description="Bytes of an error answer's body kept in the error message (secrets masked).",
    )

    @field_validator("base_url")
    @classmethod
    def _plain_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise PydanticCustomError(
                "base_url_credentials", "base_url must not hold credentials: use auth"
            )
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise PydanticCustomError(
                "base_url_query", "base_url must not have a query or fragment: put them in path"
            )
        return value

    @field_validator("path")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        problem = _path_template_problem(value)
        if problem is not None:
            raise PydanticCustomError("path_template", "{problem}", {"problem": problem})
        return value

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked_headers(value)

    @model_validator(mode="after")
    def _api_key_header_not_repeated(self) -> HttpSettings:
        if isinstance(self.auth, ApiKeyAuth):
            names = {name.lower() for name in self.headers}
            if self.auth.header.lower() in names:
                raise PydanticCustomError(
                    "api_key_header_repeated",
                    "header {header} is set by auth (api_key); remove it from headers",
                    {"header": self.auth.header},
                )
        return self


register_connector_settings("webhook", WebhookSettings)
register_connector_settings("http", HttpSettings)


# -- poll -----------------------------------------------------------------------------


class PollCursor(ConfigModel):
    """Incremental polling: only records changed since the last poll are asked for."""

    param: str = Field(
        min_length=1,
        description="Query parameter that carries the cursor to the service "
        "(e.g. updated_since); the service should return records at or after it.",
    )
    field: KeyPath = Field(
        description="Dotted path in a record to the value whose maximum becomes the next "
        "cursor (e.g. updated_at). ISO-8601 strings compare as text, numbers as numbers.",
    )
    initial: str | int | float | None = Field(
        default=None,
        description="Cursor of the very first poll; default: none, the parameter is left "
        "out and the service returns everything.",
    )

    @field_validator("initial", mode="before")
    @classmethod
    def _initial_as_written(cls, value: object) -> object:
        from datetime import date  # YAML reads an unquoted timestamp as a date or datetime

        if isinstance(value, bool | date):
            raise PydanticCustomError(
                "cursor_initial",
                "write initial in quotes exactly as the service sends it "
                "(e.g. '2024-01-01T00:00:00Z'), or as a number",
            )
        return value


class NoPagination(ConfigModel):
    """One request per poll."""

    type: Literal["none"] = Field(description="Pagination kind.")


class OffsetPagination(ConfigModel):
    """Pages by offset and limit: ?offset=0&limit=100, then offset=100, ..."""

    type: Literal["offset"] = Field(description="Pagination kind.")
    param: str = Field(default="offset", min_length=1, description="Offset query parameter.")
    limit_param: str = Field(default="limit", min_length=1, description="Limit query parameter.")
    limit: int = Field(default=100, ge=1, description="Records asked for per page.")


class PagePagination(ConfigModel):
    """Numbered pages: ?page=1, ?page=2, ... until a page is empty (or short, with size)."""

    type: Literal["page"] = Field(description="Pagination kind.")
    param: str = Field(default="page", min_length=1, description="Page number query parameter.")
    start: int = Field(default=1, ge=0, description="Number of the first page.")
    size_param: str | None = Field(
        default=None, min_length=1, description="Page size query parameter, if the service has one."
    )
    size: int | None = Field(
        default=None, ge=1, description="Page size to ask for (sent as size_param)."
    )

    @model_validator(mode="after")
    def _size_with_its_param(self) -> PagePagination:
        if (self.size is None) != (self.size_param is None):
            raise PydanticCustomError(
                "page_size", "size and size_param go together: give both or neither"
            )
        return self


class TokenPagination(ConfigModel):
    """Each answer gives the token of the next page; the last one gives none."""

    type: Literal["cursor_token"] = Field(description="Pagination kind.")
    param: str = Field(
        default="next", min_length=1, description="Query parameter that carries the token."
    )
    token: KeyPath = Field(
        description="Dotted path in the JSON answer to the next page's token (e.g. "
        "meta.next_cursor); absent, null or empty on the last page.",
    )


class LinkPagination(ConfigModel):
    """Follows the RFC 8288 ``Link: <...>; rel="next"`` header of each answer."""

    type: Literal["link"] = Field(description="Pagination kind.")


Pagination = Annotated[
    NoPagination | OffsetPagination | PagePagination | TokenPagination | LinkPagination,
    Field(discriminator="type"),
]


class PollSettings(ConnectorSettings):
    """Polls a system's HTTP API on a schedule and turns the records it lists into messages."""

    url: HttpUrlStr = Field(
        description="URL to GET, http:// or https://, without credentials or fragment; it may "
        "have a query. Scheme, host and port of every request (and Link) come from here."
    )
    interval: Duration | None = Field(
        default=None,
        description="Time between the starts of two polls; default 60s. Not with cron.",
    )
    cron: str | None = Field(
        default=None,
        description="When to poll instead of interval: five cron fields (minute hour "
        "day-of-month month day-of-week), in UTC, e.g. '*/5 * * * *'.",
        examples=["*/5 * * * *", "0 6-18 * * MON-FRI"],
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (not for credentials: use auth)."
    )
    auth: HttpAuth = Field(
        default_factory=lambda: NoAuth(type="none"),
        description="How requests authenticate, chosen by 'type': none, basic, bearer, "
        "api_key or oauth2_client_credentials.",
    )
    timeout: Duration = Field(
        default=timedelta(seconds=30), description="Time allowed for one page request, end to end."
    )
    records: KeyPath | None = Field(
        default=None,
        description="Dotted path to the list of records in the JSON answer (e.g. data.items); "
        "default: the answer itself is the list.",
    )
    record_key: KeyPath | None = Field(
        default=None,
        description="Dotted path in a record to its id; the message key when the flow has no "
        "key, and how a record seen twice at the cursor boundary is recognised. Default: the "
        "record's whole content identifies it.",
    )
    cursor: PollCursor | None = Field(
        default=None,
        description="Incremental polling (param, field, initial); default: none, every poll "
        "stores every record listed.",
    )
    pagination: Pagination = Field(
        default_factory=lambda: NoPagination(type="none"),
        description="How pages are walked, chosen by 'type': none, offset, page, "
        "cursor_token or link.",
    )
    max_pages: int = Field(
        default=100, ge=1, description="Most pages fetched by one poll (a safety bound)."
    )
    event_type: str = Field(
        default="record.polled", min_length=1, description="Event type of the messages."
    )

    @field_validator("url")
    @classmethod
    def _plain_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise PydanticCustomError("url_credentials", "url must not hold credentials: use auth")
        if parts.fragment or "#" in value:
            raise PydanticCustomError("url_fragment", "url must not have a fragment")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        from crossdock.core.cron import CronSchedule  # config sits above core

        if value is not None:
            try:
                CronSchedule.parse(value)
            except ValueError as exc:
                raise PydanticCustomError("cron", "{problem}", {"problem": str(exc)}) from None
        return value

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked_headers(value)

    @model_validator(mode="after")
    def _consistent(self) -> PollSettings:
        if self.interval is not None and self.cron is not None:
            raise PydanticCustomError("interval_and_cron", "give interval or cron, not both")
        if isinstance(self.auth, ApiKeyAuth) and self.auth.header.lower() in {
            name.lower() for name in self.headers
        }:
            raise PydanticCustomError(
                "api_key_header_repeated",
                "header {header} is set by auth (api_key); remove it from headers",
                {"header": self.auth.header},
            )
        params = [getattr(self.pagination, n, None) for n in ("param", "limit_param", "size_param")]
        if self.cursor is not None and self.cursor.param in params:
            raise PydanticCustomError(
                "cursor_param_taken",
                "cursor.param {param} is also a pagination parameter",
                {"param": self.cursor.param},
            )
        return self


register_connector_settings("poll", PollSettings)
__all__ += ["PollSettings"]
