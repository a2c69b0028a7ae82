"""The message envelope: what travels through crossdock.

A `Message` is frozen. Its id is a UUIDv7 (time-ordered, so ids sort by arrival), and
it keeps that id for its whole journey: through intake, processing, every delivery,
every redelivery and every replay. `to_bytes` / `from_bytes` round-trip exactly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
import uuid_utils

JSON = Any
"""A JSON value: dict, list, str, int, float, bool or None."""


def new_message_id() -> str:
    """A new time-ordered message id (UUIDv7, canonical text form)."""
    return str(uuid_utils.uuid7())


def _freeze_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(headers))


@dataclass(frozen=True, slots=True)
class Message:
    """One record travelling from a source endpoint to the targets of a flow.

    - ``key`` is the ordering key: messages with the same key are delivered to each
      destination in the order they were received. It cannot contain a NUL character
      (stores match keys as text; sources refuse or replace one).
    - ``attempt`` counts deliveries of this message to its current destination:
      0 before the first claim, 1 on the first, and one more on each redelivery.
    - ``received_at`` is seconds since the Unix epoch (UTC).
    """

    id: str
    flow: str
    source: str
    event_type: str
    key: str
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)
    attempt: int = 0
    correlation_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _freeze_headers(self.headers))

    @classmethod
    def new(
        cls,
        *,
        flow: str,
        source: str,
        event_type: str,
        body: JSON,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        correlation_id: str | None = None,
        received_at: float | None = None,
    ) -> Message:
        """A freshly received message; without a key it gets a lane of its own (its id)."""
        if key is not None and "\x00" in key:
            raise ValueError("a message key cannot contain a NUL character")
        message_id = new_message_id()
        return cls(
            id=message_id,
            flow=flow,
            source=source,
            event_type=event_type,
            key=key if key is not None else message_id,
            body=body,
            headers=headers or {},
            received_at=time.time() if received_at is None else received_at,
            correlation_id=correlation_id,
        )

    def with_attempt(self, attempt: int) -> Message:
        m = self  # every field by position: `dataclasses.replace` costs twice as much
        return Message(
            m.id,
            m.flow,
            m.source,
            m.event_type,
            m.key,
            m.body,
            m.headers,
            m.received_at,
            attempt,
            m.correlation_id,
        )

    def to_dict(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "flow": self.flow,
            "source": self.source,
            "event_type": self.event_type,
            "key": self.key,
            "headers": dict(self.headers),
            "body": self.body,
            "received_at": self.received_at,
            "attempt": self.attempt,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Message:
        return cls(
            id=data["id"],
            flow=data["flow"],
            source=data["source"],
            event_type=data["event_type"],
            key=data["key"],
            headers=data.get("headers") or {},
            body=data.get("body"),
            received_at=float(data["received_at"]),
            attempt=int(data.get("attempt", 0)),
            correlation_id=data.get("correlation_id"),
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Message:
        return cls.from_dict(orjson.loads(raw))


def encode_body(body: JSON) -> bytes:
    """JSON bytes of a body; the one encoding the stores use."""
    return orjson.dumps(body)


def decode_body(raw: bytes) -> JSON:
    return orjson.loads(raw)
