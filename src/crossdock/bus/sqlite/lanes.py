"""Write operations of the SQLite backend, each run inside a group-commit transaction.

Every function here takes the write connection first and follows the writer's rule:
check, then write (domain errors are raised before the first write).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crossdock.bus.base import Delivery, Event, Forward, MessageStatus, Step
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import LeaseLost

Lane = tuple[str, str, str]  # destination, flow, key


@dataclass(frozen=True, slots=True)
class JournalRow:
    message_id: str
    step: Step
    destination: str | None
    attempt: int | None
    detail: bytes | None
    payload: bytes | None


def journal_rows(
    message_id: str, destination: str | None, attempt: int | None, events: Iterable[Event]
) -> list[JournalRow]:
    return [
        JournalRow(
            message_id,
            e.step,
            destination,
            attempt,
            orjson.dumps(e.detail) if e.detail else None,
            None if e.payload is None else orjson.dumps(e.payload),
        )
        for e in events
    ]


_INSERT_JOURNAL = (
    "INSERT INTO journal (message_id, at, step, destination, attempt, detail, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def write_journal(conn: sqlite3.Connection, rows: Sequence[JournalRow], now: float) -> None:
    if not rows:
        return
    conn.executemany(
        _INSERT_JOURNAL,
        [
            (r.message_id, now, r.step.value, r.destination, r.attempt, r.detail, r.payload)
            for r in rows
        ],
    )


def insert_entry(
    conn: sqlite3.Connection,
    message_id: str,
    lane: Lane,
    payload: JSON | None,
    available_at: float,
    now: float,
) -> None:
    """Add a delivery at the tail of its lane; a new lane gets it as its head."""
    destination, flow, key = lane
    raw = None if payload is None else orjson.dumps(payload)
    cur = conn.execute(
        "INSERT INTO entries (message_id, destination, flow, key, payload, state, attempt,"
        " available_at, enqueued_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
        (message_id, destination, flow, key, raw, available_at, now),
    )
    conn.execute(
        "INSERT INTO lanes (destination, flow, key, head, ready_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (destination, flow, key, cur.lastrowid, available_at),
    )


def advance_lane(conn: sqlite3.Connection, lane: Lane) -> None:
    """Point the lane at its earliest delivery that is queued or holds it; drop it if none."""
    row = conn.execute(
        "SELECT seq, state, available_at FROM entries WHERE destination = ? AND flow = ?"
        " AND key = ? AND state IN ('queued', 'held') ORDER BY seq LIMIT 1",
        lane,
    ).fetchone()
    if row is None:
        conn.execute("DELETE FROM lanes WHERE destination = ? AND flow = ? AND key = ?", lane)
        return
    seq, state, available_at = row
    ready_at = available_at if state == "queued" else None
    conn.execute(
        "INSERT INTO lanes (destination, flow, key, head, ready_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET head = excluded.head, ready_at = excluded.ready_at,"
        " lease = NULL, worker = NULL",
        (*lane, seq, ready_at),
    )


def lane_is_leased(conn: sqlite3.Connection, lane: Lane, now: float) -> bool:
    row = conn.execute(
        "SELECT lease, ready_at FROM lanes WHERE destination = ? AND flow = ? AND key = ?", lane
    ).fetchone()
    return row is not None and row[0] is not None and row[1] is not None and row[1] > now


def _lease_lost(delivery: Delivery) -> LeaseLost:
    return LeaseLost(
        f"message {delivery.message.id} at {delivery.destination}: the lease is no longer"
        " held (it expired and was taken over, or the delivery was settled)"
    )


def check_lease(conn: sqlite3.Connection, delivery: Delivery) -> Lane:
    """The delivery's lane, if the caller still holds the lease; else `LeaseLost`."""
    lane = (delivery.destination, delivery.message.flow, delivery.message.key)
    row = conn.execute(
        "SELECT head, lease FROM lanes WHERE destination = ? AND flow = ? AND key = ?", lane
    ).fetchone()
    if row is None or row[0] != delivery.seq or row[1] != delivery.lease:
        raise _lease_lost(delivery)
    return lane


def pass_lane(conn: sqlite3.Connection, delivery: Delivery) -> None:
    """Hand the leased delivery's lane on to the next one (drop it if none); else `LeaseLost`.

    What `check_lease` then `advance_lane` (after deleting the delivery) do, with one
    statement fewer: the lease check is part of the lane's write, and when the lease is
    no longer held that write changes nothing before `LeaseLost` is raised.
    """
    lane = (delivery.destination, delivery.message.flow, delivery.message.key)
    held = (*lane, delivery.seq, delivery.lease)
    following = conn.execute(
        "SELECT seq, state, available_at FROM entries WHERE destination = ? AND flow = ?"
        " AND key = ? AND state IN ('queued', 'held') AND seq != ? ORDER BY seq LIMIT 1",
        (*lane, delivery.seq),
    ).fetchone()
    if following is None:
        changed = conn.execute(
            "DELETE FROM lanes WHERE destination = ? AND flow = ? AND key = ? AND head = ?"
            " AND lease = ?",
            held,
        ).rowcount
    else:
        seq, state, available_at = following
        changed = conn.execute(
            "UPDATE lanes SET head = ?, ready_at = ?, lease = NULL, worker = NULL"
            " WHERE destination = ? AND flow = ? AND key = ? AND head = ? AND lease = ?",
            (seq, available_at if state == "queued" else None, *held),
        ).rowcount
    if changed != 1:
        raise _lease_lost(delivery)


def update_message(
    conn: sqlite3.Connection,
    message_id: str,
    *,
    now: float,
    open_delta: int = 0,
    parked_delta: int = 0,
    settled: MessageStatus = MessageStatus.DELIVERED,
    pending: MessageStatus = MessageStatus.QUEUED,
) -> None:
    """Adjust the message's counters; its status follows from them.

    parked > 0 -> parked; open > 0 -> ``pending``; otherwise ``settled``.
    """
    conn.execute(
        "UPDATE messages SET open_count = open_count + ?1, parked_count = parked_count + ?2,"
        " updated_at = ?3, status = CASE WHEN parked_count + ?2 > 0 THEN 'parked'"
        " WHEN open_count + ?1 > 0 THEN ?4 ELSE ?5 END WHERE id = ?6",
        (open_delta, parked_delta, now, pending.value, settled.value, message_id),
    )


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
    insert_message(conn, message, destination, dedup_key, rows, now)
    return None


def insert_message(
    conn: sqlite3.Connection,
    message: Message,
    destination: str,
    dedup_key: str | None,
    rows: Sequence[JournalRow],
    now: float,
) -> None:
    """Store a message and its first delivery (the caller checked for duplicates)."""
    insert_messages(conn, [new_message(message, destination, dedup_key, rows)], lambda: now)


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
) -> list[None]:
    """Store messages and their first deliveries, in order, with one statement per table.

    The caller checked for duplicates. Entries get their sequence numbers here, as
    AUTOINCREMENT would (after the largest ever used), so that a new lane can name its
    head without a statement per message.
    """
    last = conn.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0),"
        " coalesce((SELECT max(seq) FROM entries), 0))"
    ).fetchone()[0]
    messages, entries, lanes, journal = [], [], [], []
    for seq, new in enumerate(news, start=last + 1):
        m, now = new.message, clock()
        messages.append(
            (
                *(m.id, m.flow, m.source, m.event_type, m.key, new.headers, new.body),
                *(m.received_at, m.correlation_id, new.dedup_key, now),
            )
        )
        entries.append((seq, m.id, new.destination, m.flow, m.key, now, now))
        lanes.append((new.destination, m.flow, m.key, seq, now))
        journal += [
            (r.message_id, now, r.step.value, r.destination, r.attempt, r.detail, r.payload)
            for r in new.rows
        ]
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
    conn.executemany(_INSERT_JOURNAL, journal)
    return [None] * len(news)


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


_CLAIM_ROWS = (
    "SELECT e.seq, e.attempt, e.payload, m.id, m.flow, m.source, m.event_type, m.key,"
    " m.headers, m.body, m.received_at, m.correlation_id FROM entries e JOIN messages m"
    " ON m.id = e.message_id WHERE e.seq IN (SELECT value FROM json_each(?))"
)


def claim(
    conn: sqlite3.Connection,
    destination: str,
    worker: str,
    limit: int,
    lease_seconds: float,
    now: float,
) -> list[Claimed]:
    """Lease the due heads of up to ``limit`` lanes, one statement per kind of write.

    Returns them as stored: `deliveries` decodes them outside the writer thread, which
    every write of the process waits for.
    """
    lanes = conn.execute(
        "SELECT flow, key, head, lease FROM lanes WHERE destination = ? AND ready_at <= ?"
        " ORDER BY ready_at LIMIT ?",
        (destination, now, limit),
    ).fetchall()
    due: list[tuple[str, str, int, bool]] = []  # flow, key, head, redelivery
    for flow, key, head, previous_lease in lanes:
        redelivery = previous_lease is not None
        if redelivery:
            # The lease expired: restart the lane from its earliest delivery, which a
            # replay may have put back before the one that was leased.
            lane = (destination, flow, key)
            advance_lane(conn, lane)
            row = conn.execute(
                "SELECT head, ready_at FROM lanes WHERE destination = ? AND flow = ? AND key = ?",
                lane,
            ).fetchone()
            if row is None or row[1] is None or row[1] > now:
                continue
            redelivery = row[0] == head
            head = row[0]
        due.append((flow, key, head, redelivery))
    if not due:
        return []
    expires = now + lease_seconds
    leases = [secrets.token_hex(16) for _ in due]
    conn.executemany(
        "UPDATE lanes SET ready_at = ?, lease = ?, worker = ? WHERE destination = ?"
        " AND flow = ? AND key = ?",
        [
            (expires, lease, worker, destination, flow, key)
            for lease, (flow, key, _, _) in zip(leases, due, strict=True)
        ],
    )
    conn.executemany(
        "UPDATE entries SET attempt = attempt + 1 WHERE seq = ?", [(d[2],) for d in due]
    )
    heads = orjson.dumps([d[2] for d in due])
    stored = {row[0]: row[1:] for row in conn.execute(_CLAIM_ROWS, (heads,))}
    claimed = []
    redelivered = Event(Step.REDELIVERED, {"reason": "lease expired", "worker": worker})
    for lease, (_, _, head, redelivery) in zip(leases, due, strict=True):
        attempt, payload, *envelope = stored[head]
        if redelivery:
            rows = journal_rows(envelope[0], destination, attempt, [redelivered])
            write_journal(conn, rows, now)
        claimed.append(Claimed(head, lease, expires, attempt, payload, envelope))
    return claimed


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased by `claim`, as stored."""

    seq: int
    lease: str
    expires: float
    attempt: int
    payload: bytes | None
    envelope: list[Any]


def deliveries(claimed: Sequence[Claimed], destination: str) -> list[Delivery]:
    """Decode what `claim` leased."""
    out = []
    for c in claimed:
        message = _message(c.envelope, c.attempt)
        body = message.body if c.payload is None else orjson.loads(c.payload)
        out.append(Delivery(message, destination, body, c.lease, c.expires, c.seq))
    return out


def _message(envelope: list[Any], attempt: int) -> Message:
    mid, flow, source, event_type, key, headers, body, received_at, correlation_id = envelope
    return Message(
        id=str(mid),
        flow=str(flow),
        source=str(source),
        event_type=str(event_type),
        key=str(key),
        headers=orjson.loads(headers),
        body=orjson.loads(body),
        received_at=float(received_at),
        attempt=attempt,
        correlation_id=None if correlation_id is None else str(correlation_id),
    )


def ack(
    conn: sqlite3.Connection,
    delivery: Delivery,
    rows: Sequence[JournalRow],
    forward: Sequence[Forward],
    now: float,
) -> None:
    pass_lane(conn, delivery)
    message = delivery.message
    conn.execute("DELETE FROM entries WHERE seq = ?", (delivery.seq,))
    out_rows = list(rows)
    for f in forward:
        available = now if f.available_at is None else f.available_at
        insert_entry(
            conn, message.id, (f.destination, message.flow, message.key), f.payload, available, now
        )
        out_rows += journal_rows(message.id, f.destination, None, f.events)
    write_journal(conn, out_rows, now)
    filtered = not forward and any(r.step is Step.FILTERED for r in rows)
    settled = MessageStatus.FILTERED if filtered else MessageStatus.DELIVERED
    update_message(conn, message.id, now=now, open_delta=len(forward) - 1, settled=settled)


def retry_at(
    conn: sqlite3.Connection,
    delivery: Delivery,
    when: float,
    rows: Sequence[JournalRow],
    now: float,
    *,
    counted: bool = True,
) -> None:
    """Make the delivery due again at ``when``; ``counted=False`` takes back its attempt."""
    lane = check_lease(conn, delivery)
    conn.execute(
        "UPDATE entries SET available_at = ?, attempt = attempt - ? WHERE seq = ?",
        (when, 0 if counted else 1, delivery.seq),
    )
    advance_lane(conn, lane)  # due at `when`, unless a replay put an earlier one first
    write_journal(conn, rows, now)
    pending = MessageStatus.RETRYING if counted else MessageStatus.QUEUED
    update_message(conn, delivery.message.id, now=now, pending=pending)


def park(
    conn: sqlite3.Connection,
    delivery: Delivery,
    rows: Sequence[JournalRow],
    hold_lane: bool,
    now: float,
) -> None:
    lane = check_lease(conn, delivery)
    state = "held" if hold_lane else "parked"
    conn.execute("UPDATE entries SET state = ? WHERE seq = ?", (state, delivery.seq))
    advance_lane(conn, lane)  # a held delivery stops its lane only where it is the earliest
    write_journal(conn, rows, now)
    update_message(conn, delivery.message.id, now=now, open_delta=-1, parked_delta=1)
