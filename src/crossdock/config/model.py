"""The typed configuration: what `load_config` returns.

Every model refuses unknown keys and is frozen. Durations are positive
`datetime.timedelta` values; secrets are `pydantic.SecretStr`. Relative store paths are
made absolute against the configuration folder when loaded through `load_config`.

`Config.endpoints` is declared with the base `Endpoint`; the loader validates with a
subclass whose endpoints are a union keyed by ``connector`` (see `_document`), so each
endpoint's `settings` is an instance of its connector's registered settings model.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from crossdock.config.connectors import ConnectorSettings
from crossdock.config.rules import ConditionSpec, MappingSpec
from crossdock.config.types import (
    NAME_PATTERN,
    ConfigModel,
    Duration,
    KeyPath,
    Name,
    format_duration,
    load_context,
)

__all__ = [
    "Config",
    "Endpoint",
    "Flow",
    "JournalSettings",
    "RetrySettings",
    "ServerSettings",
    "StoreSettings",
    "Target",
]


class StoreSettings(ConfigModel):
    """Where the embedded backend keeps its state."""

    path: Path = Field(
        default=Path("crossdock.db"),
        validate_default=True,
        description="SQLite file of the embedded backend. A relative path is relative to "
        "the configuration file's folder (for a folder of files: that folder).",
    )

    reserve: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Bytes of disk kept aside next to the store (a reserve file). When the "
        "disk fills up the reserve is released for the deliveries of stored messages, and "
        "new messages are refused (503) until there is room for it twice over. 0: none.",
    )

    @field_validator("path")
    @classmethod
    def _relative_to_config(cls, value: Path, info: ValidationInfo) -> Path:
        context = load_context(info)
        if context is None or value.is_absolute():
            return value
        return context.base_dir / value


class JournalSettings(ConfigModel):
    """What the journal records and for how long."""

    retention: Duration = Field(
        default=timedelta(days=7), description="How long journal entries are kept."
    )
    keep_payloads: bool = Field(
        default=True, description="Record message bodies in the journal (not only metadata)."
    )
    mask: tuple[str, ...] = Field(
        default=(),
        description="Body field names whose values are masked in recorded payloads, at any "
        "depth (e.g. password, card_number).",
    )


class ServerSettings(ConfigModel):
    """The HTTP server: webhook intake, admin API, metrics, health."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port to listen on.")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest accepted request body, in bytes."
    )
    max_queue_depth: int = Field(
        default=100_000,
        ge=1,
        description="Back-pressure threshold: while more messages than this wait in all "
        "queues together (intake and deliveries), webhooks are answered 429.",
    )
    retry_after: int = Field(
        default=5,
        ge=1,
        description="Seconds a sender is told to wait (Retry-After) when answered 429 or 503.",
    )
    read_timeout: Duration = Field(
        default=timedelta(seconds=30),
        description="Longest a webhook's body may take to arrive, once its headers are in; "
        "a slower sender is answered 408 and disconnected, and nothing is stored.",
    )
    header_timeout: Duration = Field(
        default=timedelta(seconds=10),
        description="Longest a request's line and headers may take to arrive, from the "
        "connection's start or the request's first byte; a slower client (nothing sent, "
        "or headers trickled in) is answered 408 and disconnected. Idle time between "
        "requests on a kept-alive connection does not count.",
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        description="Most client connections open (and requests in progress) at once; "
        "beyond it, new requests are answered 503 with Retry-After (health, readiness and "
        "metrics are still answered).",
    )
    max_header_bytes: int = Field(
        default=32_768,
        ge=1024,
        le=1_048_576,
        description="Largest request line and headers of a request, in bytes; a larger one "
        "is answered 431 and the connection closed, without reading further.",
    )


class RetrySettings(ConfigModel):
    """How failed deliveries to a target are retried: exponential back-off with jitter.

    The n-th retry waits ``min(initial_delay * multiplier**(n-1), max_delay)``, varied by
    ``± jitter`` of itself. A delivery is parked after `max_attempts` attempts or when it
    is older than `max_age`, whichever comes first.
    """

    max_attempts: int = Field(
        default=8, ge=1, description="Attempts in all (the first included) before parking."
    )
    initial_delay: Duration = Field(
        default=timedelta(seconds=1), description="Wait before the first retry."
    )
    max_delay: Duration = Field(
        default=timedelta(minutes=10),
        validate_default=True,
        description="Longest wait between two attempts; at least initial_delay.",
    )
    multiplier: float = Field(
        default=2.0, ge=1, description="Factor applied to the wait after each retry."
    )
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random variation of each wait, as a fraction."
    )
    max_age: Duration = Field(
        default=timedelta(hours=24), description="Park a delivery still failing after this long."
    )

    @field_validator("max_delay")
    @classmethod
    def _not_below_initial_delay(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        initial = info.data.get("initial_delay")
        if isinstance(initial, timedelta) and value < initial:
            raise PydanticCustomError(
                "max_delay_below_initial",
                "must be >= initial_delay ({initial})",
                {"initial": format_duration(initial)},
            )
        return value


class Target(ConfigModel):
    """One endpoint a flow delivers to, with its own retry schedule and lease."""

    endpoint: Name = Field(description="Name of the endpoint messages are delivered to.")
    retry: RetrySettings = Field(
        default_factory=RetrySettings, description="Retry schedule of deliveries to this target."
    )
    lease: Duration = Field(
        default=timedelta(seconds=30),
        description="How long a worker holds a delivery before another may take it over; "
        "longer than the endpoint's request timeout.",
    )
    when: tuple[ConditionSpec, ...] = Field(
        default=(),
        description="Route to this target only when all these conditions hold (default: always).",
    )
    mapping: MappingSpec | None = Field(
        default=None,
        description="How the body sent to this target is built (default: the body as received).",
    )


def _flow_schema(schema: JsonDict) -> None:
    """Document the `source` shorthand: exactly one of `source` / `sources` is required."""
    properties = schema.get("properties")
    if isinstance(properties, dict):
        properties["source"] = {
            "type": "string",
            "pattern": NAME_PATTERN,
            "description": "Shorthand for a single source: 'source: shop' means "
            "'sources: [shop]'. Give either source or sources.",
        }
    required = schema.get("required")
    if isinstance(required, list) and "sources" in required:
        required.remove("sources")
    schema["oneOf"] = [{"required": ["sources"]}, {"required": ["source"]}]


class Flow(ConfigModel, json_schema_extra=_flow_schema):
    """A declared integration: messages from its sources go to every target, in key order."""

    description: str | None = Field(default=None, description="What this flow is for.")
    sources: tuple[Name, ...] = Field(
        min_length=1, description="Names of the endpoints this flow receives messages from."
    )
    key: KeyPath | None = Field(
        default=None,
        description="Dotted path into the message body giving the ordering key (e.g. "
        "order.id): messages with one key are delivered in order. Default: none, every "
        "message is its own lane.",
    )
    on_park: Literal["hold", "skip"] = Field(
        default="hold",
        description="When a message is parked: 'hold' keeps later messages of its key "
        "waiting until it is replayed or dropped; 'skip' lets them go on.",
    )
    when: tuple[ConditionSpec, ...] = Field(
        default=(),
        description="The flow takes a message only when all these conditions hold; others are "
        "journaled as filtered, with the condition that failed.",
    )
    route: Literal["all", "first"] = Field(
        default="all",
        description="'all': every target whose conditions hold gets the message; 'first': "
        "only the first such target, in the order listed.",
    )
    targets: tuple[Target, ...] = Field(
        min_length=1, description="Endpoints this flow delivers to, each with its own schedule."
    )

    @model_validator(mode="before")
    @classmethod
    def _source_shorthand(cls, data: Any) -> Any:
        """Accept ``source: x`` for ``sources: [x]``; refuse both at once."""
        if not isinstance(data, dict) or "source" not in data:
            return data
        if "sources" in data:
            raise PydanticCustomError(
                "source_and_sources", "give either 'source' or 'sources', not both"
            )
        source = data["source"]
        rest = {key: value for key, value in data.items() if key != "source"}
        return {**rest, "sources": source if isinstance(source, list) else [source]}


def _mapping_or_file(schema: JsonDict) -> None:
    """Document the file form of an endpoint's mapping: ``mapping: mappings/zendesk.yaml``."""
    choices = schema.get("anyOf")
    if isinstance(choices, list):
        choices.append(
            {
                "type": "string",
                "description": "A YAML file (relative to the configuration's folder) holding "
                "to_canonical, from_canonical and lossless.",
            }
        )


class EndpointMapping(ConfigModel):
    """How one system's bodies map to and from the canonical model: each system is mapped
    once, and flows route canonical records."""

    to_canonical: MappingSpec | None = Field(
        default=None,
        description="Applied to every body received from this endpoint, before the flow's "
        "conditions, routes and target mappings (default: the body as received).",
    )
    from_canonical: MappingSpec | None = Field(
        default=None,
        description="Applied to every body delivered to this endpoint, after the target's "
        "own mapping (default: that body as it is).",
    )
    lossless: dict[str, Any] = Field(
        default_factory=dict,
        description="Canonical fields that survive a round trip out through from_canonical "
        "and back through to_canonical (documentation for tests; not used at run time).",
    )


class Endpoint(ConfigModel):
    """One configured connection to one system, through one connector."""

    connector: str = Field(
        description="Kind of system; selects the schema of settings (e.g. webhook, http)."
    )
    description: str | None = Field(default=None, description="What this endpoint is.")
    settings: SerializeAsAny[ConnectorSettings] = Field(
        description="Settings of the connector; their keys depend on the connector."
    )
    mapping: EndpointMapping | None = Field(
        default=None,
        description="This system's mapping to and from the canonical model, inline or as "
        "a YAML file name (see docs/mapping.md).",
        json_schema_extra=_mapping_or_file,
    )


def _unset_section() -> Any:
    """Default of a section validated like an empty mapping (so its validators run)."""
    return {}


class Config(ConfigModel):
    """A whole crossdock configuration: one YAML file, or a folder of them merged."""

    version: Literal[1] = Field(description="Version of the configuration format; only 1.")
    store: StoreSettings = Field(
        default_factory=_unset_section,
        validate_default=True,
        description="The embedded backend's store.",
    )
    journal: JournalSettings = Field(
        default_factory=JournalSettings, description="What the journal records and keeps."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="The HTTP server.")
    endpoints: dict[Name, Endpoint] = Field(
        default_factory=dict,
        description="Connections to systems, by name (a lowercase letter, then up to 62 "
        "lowercase letters, digits, '_' or '-').",
    )
    flows: dict[Name, Flow] = Field(
        default_factory=dict, description="Integrations, by name (same rule as endpoints)."
    )
