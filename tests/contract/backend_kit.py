"""Helpers for the Backend contract tests; they use only the `Backend` protocol."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from crossdock.bus.base import (
    INTAKE,
    Backend,
    Delivery,
    Event,
    Forward,
    JournalEntry,
    MessageQuery,
    MessageStatus,
    QueueStats,
    Routed,
    Step,
)
from crossdock.core.envelope import JSON, Message

Clock = Callable[[], float]


class FakeClock:
    """A clock the test moves by hand: leases and retries expire without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class Opener(Protocol):
    def __call__(
        self, directory: Path, clock: Clock, *, mask: Sequence[str] = ()
    ) -> Awaitable[Backend]: ...


class SmallStorage(Protocol):
    """Storage for a store that can be made to run out of space, as a full disk does."""

    directory: Path  # where to open the store

    def fill(self) -> None:
        """Take every free byte, so that the store's next growth fails."""

    def free(self) -> None:
        """Give the space back."""

    def check(self) -> None:
        """Assert the store's files are intact (e.g. an integrity check)."""


@dataclass(frozen=True)
class BackendKind:
    name: str
    open: Opener
    # Storage that can run full, or None when the backend cannot be starved here.
    small_storage: Callable[[Path], contextlib.AbstractContextManager[SmallStorage]] | None = None


class Stores:
    """Opens and reopens the test's store; closes whatever is still open at the end."""

    def __init__(self, kind: BackendKind, directory: Path, clock: FakeClock) -> None:
        self.kind = kind
        self.directory = directory
        self.clock = clock
        self._open: list[Backend] = []

    async def open(self, *, mask: Sequence[str] = ()) -> Backend:
        backend = await self.kind.open(self.directory, self.clock, mask=mask)
        self._open.append(backend)
        return backend

    async def close(self, backend: Backend) -> None:
        self._open.remove(backend)
        await backend.close()

    async def reopen(self, backend: Backend) -> Backend:
        """Close the store and open it again, as a restarted process would."""
        await self.close(backend)
        return await self.open()

    async def close_all(self) -> None:
        while self._open:
            await self._open.pop().close()


FLOW = "orders"
SOURCE = "shop"
_serial = itertools.count(1)


def new_message(
    clock: Callable[[], float],
    key: str = "k",
    *,
    flow: str = FLOW,
    source: str = SOURCE,
    body: JSON = None,
    event_type: str = "order.created",
) -> Message:
    """A message received now (by the test's clock), with a body of its own."""
    return Message.new(
        flow=flow,
        source=source,
        event_type=event_type,
        key=key,
        body={"key": key, "serial": next(_serial)} if body is None else body,
        received_at=clock(),
    )


async def claim(
    backend: Backend,
    destination: str = INTAKE,
    *,
    limit: int = 1,
    lease: float = 30.0,
    worker: str = "worker-1",
) -> list[Delivery]:
    got = await backend.claim(destination, worker=worker, limit=limit, lease_seconds=lease)
    assert len(got) <= limit
    lanes = [(d.destination, d.message.flow, d.message.key) for d in got]
    assert len(set(lanes)) == len(lanes), f"two deliveries of one lane in one claim: {lanes}"
    return got


async def claim_one(
    backend: Backend, destination: str = INTAKE, *, lease: float = 30.0
) -> Delivery:
    got = await claim(backend, destination, lease=lease)
    assert len(got) == 1, f"expected one delivery from {destination}, got {got}"
    return got[0]


async def drain(
    backend: Backend, destination: str = INTAKE, *, bound: int = 1000
) -> list[Delivery]:
    """Claim and ack one delivery at a time until none is due; return them in claim order."""
    done: list[Delivery] = []
    for _ in range(bound):
        got = await claim(backend, destination)
        if not got:
            return done
        await backend.ack(got[0])
        done.append(got[0])
    raise AssertionError(f"{destination} did not drain within {bound} claims")


async def stats_of(backend: Backend, flow: str = FLOW, destination: str = INTAKE) -> QueueStats:
    """The stats of one (flow, destination); a queue with no row counts as empty."""
    rows = [s for s in await backend.stats() if (s.flow, s.destination) == (flow, destination)]
    assert len(rows) <= 1
    if rows:
        return rows[0]
    return QueueStats(flow, destination, 0, 0, 0, 0, None)


def counts(stats: QueueStats) -> tuple[int, int, int, int]:
    """(depth, in_flight, retrying, parked)."""
    return stats.depth, stats.in_flight, stats.retrying, stats.parked


async def entries(backend: Backend, message_id: str) -> list[JournalEntry]:
    journey = await backend.journey(message_id)
    assert journey is not None, f"no journey for {message_id}"
    return list(journey.entries)


async def steps(backend: Backend, message_id: str) -> list[Step]:
    return [e.step for e in await entries(backend, message_id)]


async def status(backend: Backend, message_id: str) -> MessageStatus:
    found = await backend.find_messages(MessageQuery(message_id=message_id))
    assert len(found) == 1, f"message {message_id}: found {found}"
    return found[0].status


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.message.id for d in deliveries]


def routed_to(*targets: str, payload: dict[str, object] | None = None) -> Routed:
    """Routed to ``targets``, each with ``payload`` (None: the message body)."""
    return Routed(
        [Event(Step.ROUTED, {"targets": list(targets)})],
        [Forward(t, payload, [Event(Step.MAPPED, payload=payload)]) for t in targets],
    )
