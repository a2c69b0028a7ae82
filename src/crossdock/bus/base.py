"""The backend protocol: durable queues with per-key lanes, and the journal beside them.

Every backend (embedded SQLite, PostgreSQL, NATS JetStream + PostgreSQL) implements
`Backend`; the contract suite in ``tests/contract`` runs unchanged against each.

Vocabulary
- A *destination* is a queue: ``"intake"`` for received messages waiting to be
  processed, or the name of a target endpoint for messages waiting to be delivered.
- A *delivery* is one message waiting for, or held by, one destination.
- A *lane* is (destination, flow, key). Within a lane, deliveries are handed out one at a
  time in the order they were enqueued: the next one is not handed out while an earlier
  one is leased, waiting to retry, or parked with ``hold_lane=True``.
- A *lease* is a claim's hold on a delivery. If the holder does not settle it (ack,
  retry, park) before the lease expires, the delivery is handed out again with the same
  message id and ``attempt + 1``. Settling with an expired and re-claimed lease raises
  `LeaseLost`.

Every state change writes its journal events in the same transaction, so the journal
never disagrees with the queue. Every method may raise `StoreUnavailable` (nothing of
that call was stored; try again later).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from crossdock.core.envelope import JSON, Message

INTAKE = "intake"
"""The destination that holds received messages until the processor routes them."""


class Step(StrEnum):
    """What happened to a message; one journal entry each."""

    RECEIVED = "received"
    FILTERED = "filtered"
    ROUTED = "routed"
    MAPPED = "mapped"
    ATTEMPTED = "attempted"
    DELIVERED = "delivered"
    FAILED = "failed"
    REDELIVERED = "redelivered"
    PARKED = "parked"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


class MessageStatus(StrEnum):
    """Where a message stands as a whole, over all its destinations."""

    QUEUED = "queued"  # waiting in or held by some destination
    RETRYING = "retrying"  # the last attempt failed and a retry is scheduled
    PARKED = "parked"  # at least one delivery is in the dead-letter area
    DELIVERED = "delivered"  # every delivery done
    FILTERED = "filtered"  # dropped by a flow rule, on purpose
    DISCARDED = "discarded"  # removed from the dead-letter area by an operator


@dataclass(frozen=True, slots=True)
class Event:
    """A journal event to record with a state change.

    ``detail`` holds step-specific facts (rule, status code, duration_ms, target_id,
    error_class, error, next_try, reason). ``payload`` is a body snapshot (already
    masked), kept only where it differs from the message body (e.g. after mapping).
    """

    step: Step
    detail: Mapping[str, JSON] = field(default_factory=dict)
    payload: JSON | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: the message, its destination and the lease to settle it with."""

    message: Message
    destination: str
    payload: JSON  # what to deliver: the mapped body, or the message body for intake
    lease: str
    lease_expires: float
    seq: int  # the backend's position of this delivery; opaque to callers


@dataclass(frozen=True, slots=True)
class Forward:
    """A delivery to create when another is acknowledged (atomically with the ack)."""

    destination: str
    payload: JSON | None = None  # None: the message body
    events: Sequence[Event] = ()
    available_at: float | None = None


@dataclass(frozen=True, slots=True)
class Routed:
    """The processor's outcome for a message, worked out before the message is stored.

    Given to `Backend.enqueue_many`, it is stored with the message in the same commit:
    the ``forward`` deliveries (none: the message was filtered) and the ``events``
    (``routed`` or ``filtered``), so the message does not pass through intake. Unless its
    intake lane (intake, flow, key) holds an earlier message, which it must not overtake:
    then the message is stored for intake as if there were no outcome, and the processor
    works it out again in its turn.
    """

    events: Sequence[Event]
    forward: Sequence[Forward] = ()


class Router(Protocol):
    """Works out a message's outcome before it is stored (the processor), for intake and
    pollers to store with it."""

    def decide(self, message: Message) -> Routed | None:
        """The outcome to store with the message; None: store it for intake."""
        ...

    def committed(self, message: Message, routed: Routed) -> None:
        """The message was stored with its outcome (``EnqueueResult.routed``)."""
        ...


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    message_id: str
    duplicate: bool  # True: the dedup key was seen before; nothing new was stored
    routed: bool = False  # True: stored with its `Routed` outcome, not for intake


@dataclass(frozen=True, slots=True)
class Selector:
    """Which parked deliveries a replay or discard applies to. All given fields must match."""

    message_id: str | None = None
    flow: str | None = None
    destination: str | None = None

    def __post_init__(self) -> None:
        if self.message_id is None and self.flow is None and self.destination is None:
            raise ValueError("a selector needs a message id, a flow or a destination")


@dataclass(frozen=True, slots=True)
class QueueStats:
    flow: str
    destination: str
    depth: int  # deliveries not yet done and not parked (includes in flight and retrying)
    in_flight: int
    retrying: int
    parked: int
    oldest_age: float | None  # seconds since the oldest non-parked delivery was enqueued


@dataclass(frozen=True, slots=True)
class JournalEntry:
    message_id: str
    at: float
    step: Step
    destination: str | None
    attempt: int | None
    detail: Mapping[str, JSON]
    payload: JSON | None


@dataclass(frozen=True, slots=True)
class MessageSummary:
    id: str
    flow: str
    source: str
    event_type: str
    key: str
    received_at: float
    updated_at: float
    status: MessageStatus
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class Journey:
    """Everything known of one message: the envelope, its status and every step."""

    summary: MessageSummary
    message: Message
    entries: Sequence[JournalEntry]


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters for a journal search; all given filters must match. Times are epoch seconds."""

    message_id: str | None = None
    flow: str | None = None
    endpoint: str | None = None  # the source, or a destination the message went to
    key: str | None = None
    status: MessageStatus | None = None
    correlation_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


class Taker(Protocol):
    """A consumer in this process that takes deliveries as they are stored, already
    leased to it, instead of claiming them (see `Backend.hand_to`)."""

    @property
    def worker(self) -> str:
        """The name its leases are taken under (as `Backend.claim`'s ``worker``)."""
        ...

    @property
    def lease_seconds(self) -> float:
        """The lease a delivery handed to it gets (as `Backend.claim`'s)."""
        ...

    def reserve(self) -> bool:
        """Whether it takes one more delivery now. If so, it keeps room for it until
        `take` or `unreserve` is called, exactly once, after the commit."""
        ...

    def take(self, delivery: Delivery) -> None:
        """A reserved delivery, committed and leased to it: it must settle it as if it had
        claimed it (not doing so is a crash: the lease expires and it is handed out again)."""
        ...

    def unreserve(self) -> None:
        """A reserved delivery was not leased to it (its lane held earlier deliveries, or
        nothing was stored): it is claimable as usual, or was never stored."""
        ...


class Backend(Protocol):
    """Durable queues, lanes and the journal. See the module docstring for the terms.

    Called by the runtime (intake, processor, delivery workers) and by the CLI and admin
    API. Every method is safe to call concurrently from many tasks.
    """

    async def enqueue(
        self,
        message: Message,
        destination: str = INTAKE,
        *,
        dedup_key: str | None = None,
        events: Sequence[Event] = (),
    ) -> EnqueueResult:
        """Store a received message durably, then return.

        Returns only after the commit is on disk: a caller may then acknowledge the
        sender. With a ``dedup_key`` already seen from the same source, stores nothing
        and returns the first message's id with ``duplicate=True``. Records a
        ``received`` event plus ``events``.
        """
        ...

    async def enqueue_many(
        self,
        messages: Sequence[Message],
        destination: str = INTAKE,
        *,
        dedup: tuple[str, str] | None = None,
        cursor: tuple[str, JSON] | None = None,
        routed: Sequence[Routed | None] = (),
    ) -> list[EnqueueResult]:
        """Store several messages (one request fanned out to its flows, or one poll) in one
        commit, all or none, together with the cursor ``(name, value)`` if given.

        ``dedup`` is (source, delivery id): if seen before, nothing is stored and the ids
        stored then come back with ``duplicate=True``.

        ``routed`` (for ``destination=INTAKE`` only; empty, or one item per message): each
        message's `Routed` outcome, stored with it, or None to store it for intake. The
        result's ``routed`` tells which way each message was stored.
        """
        ...

    async def get_cursor(self, name: str) -> JSON | None:
        """The cursor last committed under ``name`` by `enqueue_many`, or None."""
        ...

    async def claim(
        self, destination: str, *, worker: str, limit: int = 1, lease_seconds: float = 30.0
    ) -> list[Delivery]:
        """Lease up to ``limit`` deliveries that are due, at most one per lane."""
        ...

    def hand_to(self, destination: str, taker: Taker | None) -> None:
        """From now on, hand ``destination``'s new deliveries that `enqueue_many` stores in
        this process with their outcome (`Routed`) to ``taker``: while it has room
        (`Taker.reserve`), each one whose lane holds nothing before it is created leased
        to it in the same commit and given to it (`Taker.take`) without a claim, as the
        claim would have handed it out. None: stop. Every lane rule holds as for a claim.
        """
        ...

    async def ack(
        self, delivery: Delivery, *, events: Sequence[Event] = (), forward: Sequence[Forward] = ()
    ) -> None:
        """Settle a delivery as done, creating ``forward`` deliveries in the same commit."""
        ...

    async def retry_at(
        self, delivery: Delivery, when: float, *, events: Sequence[Event] = ()
    ) -> None:
        """Hand the delivery out again at ``when``; its lane waits for it."""
        ...

    async def release(
        self, delivery: Delivery, when: float | None = None, *, events: Sequence[Event] = ()
    ) -> None:
        """Give the delivery back untried (shutdown, paused endpoint): due again at ``when``
        (default now), and this claim does not count as an attempt."""
        ...

    async def park(
        self, delivery: Delivery, *, events: Sequence[Event] = (), hold_lane: bool = True
    ) -> None:
        """Move the delivery to the dead-letter area.

        ``hold_lane=True`` holds back later deliveries of its lane until it is replayed
        or discarded; ``False`` lets them go on.
        """
        ...

    async def replay(self, selector: Selector) -> int:
        """Put matching parked deliveries back in their lanes, in their original order."""
        ...

    async def discard(self, selector: Selector, reason: str) -> int:
        """Remove matching parked deliveries for good, recording ``reason``."""
        ...

    async def wait(self, destination: str, at_most: float) -> None:
        """Return soon after something may have become claimable at ``destination``, or
        after ``at_most`` seconds at the latest. A hint for idle workers, never a promise."""
        ...

    async def stats(self) -> list[QueueStats]:
        """Depth, in flight, retrying, parked and oldest age per (flow, destination)."""
        ...

    async def find_messages(self, query: MessageQuery) -> list[MessageSummary]:
        """Newest first."""
        ...

    async def journey(self, message_id: str) -> Journey | None: ...

    async def purge(self, older_than: float) -> int:
        """Delete settled messages (and their journal) last updated before ``older_than``."""
        ...

    async def close(self) -> None: ...


async def store_routed(
    backend: Backend,
    messages: Sequence[Message],
    router: Router | None,
    *,
    dedup: tuple[str, str] | None = None,
    cursor: tuple[str, JSON] | None = None,
) -> list[EnqueueResult]:
    """`Backend.enqueue_many` for intake, each message with its outcome from ``router``
    (without one: all for intake); tells the router which were stored with theirs."""
    if router is None or not messages:
        return await backend.enqueue_many(messages, dedup=dedup, cursor=cursor)
    routed = [router.decide(m) for m in messages]
    results = await backend.enqueue_many(messages, dedup=dedup, cursor=cursor, routed=routed)
    for message, outcome, result in zip(messages, routed, results, strict=False):
        if outcome is not None and result.routed:
            router.committed(message, outcome)
    return results


def detail(**facts: Any) -> dict[str, JSON]:
    """Journal detail without the keys whose value is None."""
    return {k: v for k, v in facts.items() if v is not None}
