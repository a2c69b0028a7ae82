"""What a connector offers the runtime: a `Sink` that applies deliveries to a system.

The runtime creates one sink per target endpoint when it starts (`open`), calls `deliver`
concurrently (up to the endpoint's ``concurrency``) for each claimed delivery, and
`close`s it at shutdown. `deliver` says what happened by returning a `Receipt` or raising:

- `TransientError` (network, timeout, 408/425/429/5xx; ``retry_after`` from the answer):
  the retry policy decides when to try again;
- `PermanentError` (other 4xx, an answer that cannot be used): the delivery is parked;
- `AuthError` (401/403): the endpoint is paused and an alert raised; attempts are not spent.

Anything else is a bug in the connector: the delivery is parked with the error's class and
the bug is logged, never swallowed silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from crossdock.bus.base import Delivery
from crossdock.core.envelope import JSON


@dataclass(frozen=True, slots=True)
class Receipt:
    """The target's answer to a successful delivery."""

    target_id: str | None = None  # the record's id in the target system, if it said
    status: int | None = None  # e.g. the HTTP status
    detail: Mapping[str, JSON] = field(default_factory=dict)


class Sink(Protocol):
    async def open(self) -> None: ...

    async def deliver(self, delivery: Delivery) -> Receipt: ...

    async def close(self) -> None: ...
