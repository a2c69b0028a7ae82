"""Durable queues with per-key lanes, and the journal: the `Backend` protocol and its stores."""

from crossdock.bus.base import (
    INTAKE,
    Backend,
    Delivery,
    EnqueueResult,
    Event,
    Forward,
    JournalEntry,
    Journey,
    MessageQuery,
    MessageStatus,
    MessageSummary,
    QueueStats,
    Routed,
    Router,
    Selector,
    Step,
    Taker,
)
from crossdock.bus.sqlite.backend import SqliteBackend

__all__ = [
    "INTAKE",
    "Backend",
    "Delivery",
    "EnqueueResult",
    "Event",
    "Forward",
    "JournalEntry",
    "Journey",
    "MessageQuery",
    "MessageStatus",
    "MessageSummary",
    "QueueStats",
    "Routed",
    "Router",
    "Selector",
    "SqliteBackend",
    "Step",
    "Taker",
]
