"""Read queries of the SQLite backend: statistics and journal search.

They run on a read connection of their own; in WAL mode they never block the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from crossdock.bus.base import (
    JournalEntry,
    Journey,
    MessageQuery,
    MessageStatus,
    MessageSummary,
    QueueStats,
    Step,
)
from crossdock.core.envelope import JSON, Message

Masker = Callable[[JSON], JSON]

_STATS = """
SELECT destination, flow, state, count(*), min(enqueued_at),
       sum(attempt > 0 AND available_at > :now)
FROM entries GROUP BY destination, flow, state
"""
"""Per queue and state, from the covering index ``entries_stats`` alone (no table rows, no
sort): its cost grows with the backlog, but slowly (about 1 µs per waiting delivery)."""

_IN_FLIGHT = """
SELECT destination, flow, count(*) FROM lanes WHERE lease IS NOT NULL AND ready_at > :now
GROUP BY destination, flow
"""


def stats(conn: sqlite3.Connection, now: float) -> list[QueueStats]:
    figures: dict[tuple[str, str], list[Any]] = {}
    for dest, flow, state, count, oldest, later in conn.execute(_STATS, {"now": now}):
        # depth, in flight, retrying, parked, oldest queued
        f = figures.setdefault((flow, dest), [0, 0, 0, 0, None])
        if state == "queued":
            f[0], f[2], f[4] = count, later, oldest
        else:
            f[3] += count
    for dest, flow, count in conn.execute(_IN_FLIGHT, {"now": now}):
        if (flow, dest) in figures:
            figures[(flow, dest)][1] = count
    return [
        QueueStats(
            flow=flow,
            destination=dest,
            depth=depth,
            in_flight=in_flight,
            retrying=retrying,
            parked=parked,
            oldest_age=None if oldest is None else max(0.0, now - oldest),
        )
        for (flow, dest), (depth, in_flight, retrying, parked, oldest) in sorted(figures.items())
    ]


_SUMMARY_COLUMNS = (
    "id, flow, source, event_type, key, received_at, updated_at, status, correlation_id"
)


def _summary(row: Iterable[Any]) -> MessageSummary:
    mid, flow, source, event_type, key, received, updated, status, corr = row
    return MessageSummary(
        mid, flow, source, event_type, key, received, updated, MessageStatus(status), corr
    )


def find_messages(conn: sqlite3.Connection, q: MessageQuery) -> list[MessageSummary]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("id", q.message_id),
        ("flow", q.flow),
        ("key", q.key),
        ("status", None if q.status is None else q.status.value),
        ("correlation_id", q.correlation_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if q.endpoint is not None:
        clauses.append(
            "(source = ? OR id IN (SELECT message_id FROM journal WHERE destination = ?))"
        )
        params += [q.endpoint, q.endpoint]
    if q.since is not None:
        clauses.append("received_at >= ?")
        params.append(q.since)
    if q.until is not None:
        clauses.append("received_at < ?")
        params.append(q.until)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {_SUMMARY_COLUMNS} FROM messages{where} ORDER BY received_at DESC, id DESC LIMIT ?"
    )
    return [_summary(row) for row in conn.execute(sql, [*params, q.limit])]


def journey(conn: sqlite3.Connection, message_id: str, mask: Masker) -> Journey | None:
    row = conn.execute(
        f"SELECT {_SUMMARY_COLUMNS}, headers, body FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return None
    summary = _summary(row[:9])
    message = Message(
        id=summary.id,
        flow=summary.flow,
        source=summary.source,
        event_type=summary.event_type,
        key=summary.key,
        headers=orjson.loads(row[9]),
        body=mask(orjson.loads(row[10])),
        received_at=summary.received_at,
        correlation_id=summary.correlation_id,
    )
    entries = [
        JournalEntry(
            message_id=message_id,
            at=at,
            step=Step(step),
            destination=destination,
            attempt=attempt,
            detail={} if detail is None else orjson.loads(detail),
            payload=None if payload is None else orjson.loads(payload),
        )
        for at, step, destination, attempt, detail, payload in conn.execute(
            "SELECT at, step, destination, attempt, detail, payload FROM journal"
            " WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
    ]
    return Journey(summary, message, entries)


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Delete settled messages last touched before ``older_than``, with their journal."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM messages WHERE open_count = 0 AND parked_count = 0"
            " AND updated_at < ? LIMIT 10000",
            (older_than,),
        )
    ]
    conn.executemany("DELETE FROM journal WHERE message_id = ?", [(i,) for i in ids])
    conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])
    return len(ids)
