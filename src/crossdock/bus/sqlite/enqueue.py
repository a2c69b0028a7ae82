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

from crossdock.bus.sqlite.lanes import INSERT_JOURNAL, JournalRow, journal_params, next_seq
from crossdock.core.envelope import JSON, Message


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store with its first delivery, encoded before it reaches the writer."""

    message: Message
    destination: str
    dedup_key: str | None
    rows: Sequence[JournalRow]
    headers: bytes
    body: bytes


def new_message(
    message: Message, destination: str, dedup_key: str | None, rows: Sequence[JournalRow]
) -> NewMessage:
    headers = orjson.dumps(dict(message.headers))
    return NewMessage(message, destination, dedup_key, rows, headers, orjson.dumps(message.body))


def insert_messages(
    conn: sqlite3.Connection, news: Sequence[NewMessage], clock: Callable[[], float]
) -> None:
    """Store messages and their first deliveries, in order, with one statement per table.

    The caller checked for duplicates. Entries get their sequence numbers here, as
    AUTOINCREMENT would, so that a new lane can name its head without a statement per
    message.
    """
    messages, entries, lanes, journal = [], [], [], []
    for seq, new in enumerate(news, start=next_seq(conn)):
        m, now = new.message, clock()
        messages.append(
            (
                *(m.id, m.flow, m.source, m.event_type, m.key, new.headers, new.body),
                *(m.received_at, m.correlation_id, new.dedup_key, now),
            )
        )
        entries.append((seq, m.id, new.destination, m.flow, m.key, now, now))
        lanes.append((new.destination, m.flow, m.key, seq, now))
        journal += journal_params(new.rows, now)
    conn.executemany(
        "INSERT INTO messages (id, flow, source, event_type, key, headers, body, received_at,"
        " correlation_id, dedup_key, status, open_count, parked_count, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 1, 0, ?)",
        messages,
    )
    conn.executemany(
        "INSERT INTO entries (seq, message_id, destination, flow, key, payload, state, attempt,"
        " available_at, enqueued_at) VALUES (?, ?, ?, ?, ?, NULL, 'queued', 0, ?, ?)",
        entries,
    )
    conn.executemany(
        "INSERT INTO lanes (destination, flow, key, head, ready_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        lanes,
    )
    conn.executemany(INSERT_JOURNAL, journal)


def store_groups(
    conn: sqlite3.Connection,
    groups: Sequence[Sequence[NewMessage]],
    clock: Callable[[], float],
) -> list[None]:
    """The writer's grouped operation: each item is the messages of one enqueue call
    (one request), without a dedup key. Run alone, a group is stored whole or not at all."""
    insert_messages(conn, [new for group in groups for new in group], clock)
    return [None] * len(groups)


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
    messages: Sequence[tuple[Message, Sequence[JournalRow]]],
    destination: str,
    dedup: tuple[str, str] | None,
    cursor: tuple[str, JSON] | None,
    now: float,
) -> list[str] | None:
    """Store messages (one request or one poll) all together, and the source's cursor.

    ``dedup`` is (source, key): if that key was seen, store nothing and return the ids
    stored for it then.
    """
    if dedup is not None:
        earlier = conn.execute(
            "SELECT id FROM messages WHERE source = ? AND dedup_key = ? ORDER BY id", dedup
        ).fetchall()
        if earlier:
            return [str(r[0]) for r in earlier]
    dedup_key = None if dedup is None else dedup[1]
    news = [new_message(m, destination, dedup_key, rows) for m, rows in messages]
    insert_messages(conn, news, lambda: now)
    if cursor is not None:
        conn.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (cursor[0], orjson.dumps(cursor[1]), now),
        )
    return None
