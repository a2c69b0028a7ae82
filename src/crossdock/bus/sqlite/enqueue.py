"""Enqueue operations of the SQLite backend: new messages with their first deliveries.

Messages are encoded (`new_message`) before they reach the writer thread, which every
write of the process waits for. Without a dedup key there is nothing to check, so the
writer stores every such enqueue waiting for one group commit together (`store_groups`,
one statement per table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from crossdock.bus.base import INTAKE, Event, Step
from crossdock.bus.sqlite.lanes import (
    INSERT_ENTRIES,
    INSERT_JOURNAL,
    INSERT_LANES,
    Inserts,
    JournalRow,
    Lane,
    Leased,
    NewEntry,
    journal_params,
    journal_rows,
    next_seq,
)
from crossdock.core.envelope import JSON, Message


@dataclass(frozen=True, slots=True)
class Outcome:
    """A `Routed` outcome, encoded: the message's journal rows in place of the ones it
    gets when stored for intake, and its first deliveries (none: filtered)."""

    rows: Sequence[JournalRow]
    entries: Sequence[NewEntry]
    filtered: bool


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store with its first delivery, encoded before it reaches the writer."""

    message: Message
    destination: str
    dedup_key: str | None
    rows: Sequence[JournalRow] | None  # None: `received` for intake, made if needed
    headers: bytes
    body: bytes
    outcome: Outcome | None = None  # stored with it, unless its intake lane is busy


def received_rows(message_id: str, destination: str) -> list[JournalRow]:
    """The `received` journal row of a message stored for ``destination``."""
    return journal_rows(
        message_id, None, None, [Event(Step.RECEIVED, {"destination": destination})]
    )


def new_message(
    message: Message,
    destination: str,
    dedup_key: str | None,
    rows: Sequence[JournalRow] | None,
    outcome: Outcome | None = None,
) -> NewMessage:
    headers = orjson.dumps(dict(message.headers))
    body = orjson.dumps(message.body)
    return NewMessage(message, destination, dedup_key, rows, headers, body, outcome)


_EXISTING = (
    "SELECT l.destination, l.flow, l.key FROM json_each(?) j JOIN lanes l"
    " ON l.destination = j.value ->> 0 AND l.flow = j.value ->> 1 AND l.key = j.value ->> 2"
)


def _existing_lanes(conn: sqlite3.Connection, news: Sequence[NewMessage]) -> set[Lane]:
    """Of the lanes these messages could be stored in without waiting (the intake lanes
    of those with an outcome, the lanes of their deliveries to lease), the ones that
    exist: they hold earlier deliveries."""
    wanted: list[Lane] = []
    for n in news:
        if n.outcome is not None and n.destination == INTAKE:
            m = n.message
            wanted.append((INTAKE, m.flow, m.key))
            wanted += [(e.destination, m.flow, m.key) for e in n.outcome.entries if e.lease]
    if not wanted:
        return set()
    return {(d, f, k) for d, f, k in conn.execute(_EXISTING, (orjson.dumps(wanted),))}


@dataclass(frozen=True, slots=True)
class Stored:
    """How `insert_messages` stored a message: with its outcome (``routed``) or for
    intake, and which of its new deliveries it created leased."""

    routed: bool
    leased: Sequence[Leased] = ()


_FOR_INTAKE = Stored(routed=False)


def insert_messages(
    conn: sqlite3.Connection, news: Sequence[NewMessage], clock: Callable[[], float]
) -> list[Stored]:
    """Store messages and their first deliveries, in order, with one statement per table.

    The caller checked for duplicates. Entries get their sequence numbers here, as
    AUTOINCREMENT would, so that a new lane can name its head without a statement per
    message. A message with an outcome goes to intake all the same when its intake lane
    holds an earlier message (or one stored just before it here), which it must not
    overtake. A delivery with a `Lease` is created leased when its lane holds nothing.
    """
    taken = _existing_lanes(conn, news)
    messages, stored, rows = [], [], Inserts()
    seq = next_seq(conn)
    for new in news:
        m, now = new.message, clock()
        intake_lane = (INTAKE, m.flow, m.key)
        outcome = new.outcome
        if outcome is not None and (new.destination != INTAKE or intake_lane in taken):
            outcome = None
        if outcome is None:
            status, count = "queued", 1
            received = received_rows(m.id, INTAKE) if new.rows is None else new.rows
            rows.journal += journal_params(received, now)
            first = NewEntry(new.destination, None, (), now)
            seq, _ = rows.created(m, [first], seq, now)
            taken.add((new.destination, m.flow, m.key))
            stored.append(_FOR_INTAKE)
        else:
            count = len(outcome.entries)
            status = "queued" if count else "filtered" if outcome.filtered else "delivered"
            rows.journal += journal_params(outcome.rows, now)
            seq, leased = rows.created(m, outcome.entries, seq, now, taken)
            stored.append(Stored(True, leased))
        messages.append(
            (
                *(m.id, m.flow, m.source, m.event_type, m.key, new.headers, new.body),
                *(m.received_at, m.correlation_id, new.dedup_key, status, count, now),
            )
        )
    conn.executemany(
        "INSERT INTO messages (id, flow, source, event_type, key, headers, body, received_at,"
        " correlation_id, dedup_key, status, open_count, parked_count, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        messages,
    )
    conn.executemany(INSERT_ENTRIES, rows.entries)
    conn.executemany(INSERT_LANES, rows.lanes)
    conn.executemany(INSERT_JOURNAL, rows.journal)
    return stored


def store_groups(
    conn: sqlite3.Connection,
    groups: Sequence[Sequence[NewMessage]],
    clock: Callable[[], float],
) -> list[list[Stored]]:
    """The writer's grouped operation: each item is the messages of one enqueue call
    (one request), without a dedup key. Run alone, a group is stored whole or not at all.
    Each result: how each of its messages was stored."""
    routed = iter(insert_messages(conn, [new for group in groups for new in group], clock))
    return [[next(routed) for _ in group] for group in groups]


def enqueue(
    conn: sqlite3.Connection,
    message: Message,
    destination: str,
    dedup_key: str | None,
    rows: Sequence[JournalRow],
    now: float,
) -> str | None:
    """Store a new message and its first delivery. Returns the earlier id for a duplicate."""
    if dedup_key is not None:
        row = conn.execute(
            "SELECT id FROM messages WHERE source = ? AND dedup_key = ?",
            (message.source, dedup_key),
        ).fetchone()
        if row is not None:
            return str(row[0])
    insert_messages(conn, [new_message(message, destination, dedup_key, rows)], lambda: now)
    return None


def enqueue_many(
    conn: sqlite3.Connection,
    news: Sequence[NewMessage],
    dedup: tuple[str, str] | None,
    cursor: tuple[str, JSON] | None,
    now: float,
) -> tuple[list[str] | None, list[Stored]]:
    """Store messages (one request or one poll) all together, and the source's cursor.

    ``dedup`` is (source, key): if that key was seen, store nothing and return the ids
    stored for it then. Else None, and how each message was stored.
    """
    if dedup is not None:
        earlier = conn.execute(
            "SELECT id FROM messages WHERE source = ? AND dedup_key = ? ORDER BY id", dedup
        ).fetchall()
        if earlier:
            return [str(r[0]) for r in earlier], []
    routed = insert_messages(conn, news, lambda: now)
    if cursor is not None:
        conn.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (cursor[0], orjson.dumps(cursor[1]), now),
        )
    return None, routed
