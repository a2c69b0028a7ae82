"""Claiming and settling deliveries: the SQLite backend's claim, ack, retry and park.

Acknowledgements are the writer's grouped operation `ack_many`: every ack waiting for one
group commit is checked, then written with one statement per kind of write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crossdock.bus.base import Delivery, Event, MessageStatus, Step
from crossdock.bus.sqlite.lanes import (
    INSERT_ENTRIES,
    INSERT_JOURNAL,
    INSERT_LANES,
    UPDATE_MESSAGE,
    Inserts,
    JournalRow,
    Lane,
    NewEntry,
    advance_lane,
    check_lease,
    journal_params,
    journal_rows,
    lease_lost,
    lease_token,
    next_seq,
    update_message,
    write_journal,
)
from crossdock.bus.sqlite.writer import Refused
from crossdock.core.envelope import Message

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
    leases = [lease_token() for _ in due]
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


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement: the delivery, its journal rows and the deliveries it creates."""

    delivery: Delivery
    rows: Sequence[JournalRow]
    forward: Sequence[NewEntry]


def _lane(delivery: Delivery) -> Lane:
    return (delivery.destination, delivery.message.flow, delivery.message.key)


def _held(conn: sqlite3.Connection, acks: Sequence[Ack]) -> list[Ack]:
    """The acks whose lease is still held (at most one per lane: the first)."""
    wanted = orjson.dumps([_lane(a.delivery) for a in acks])
    held = {
        (d, f, k): (head, lease)
        for d, f, k, head, lease in conn.execute(
            "SELECT l.destination, l.flow, l.key, l.head, l.lease FROM json_each(?) j"
            " JOIN lanes l ON l.destination = j.value ->> 0 AND l.flow = j.value ->> 1"
            " AND l.key = j.value ->> 2",
            (wanted,),
        )
    }
    return [
        a for a in acks if held.pop(_lane(a.delivery), None) == (a.delivery.seq, a.delivery.lease)
    ]


_FOLLOWING = (
    "SELECT j.key, e.seq, e.state, e.available_at FROM json_each(?) j LEFT JOIN entries e"
    " ON e.seq = (SELECT x.seq FROM entries x WHERE x.destination = j.value ->> 0"
    " AND x.flow = j.value ->> 1 AND x.key = j.value ->> 2 AND x.state IN ('queued', 'held')"
    " ORDER BY x.seq LIMIT 1)"
)


def _hand_on(conn: sqlite3.Connection, acked: Sequence[Delivery]) -> set[int]:
    """Hand each acked delivery's lane on to its next delivery, or drop it if none; the
    acked deliveries are deleted already. Returns the indexes of the lanes that go on."""
    lanes = [_lane(d) for d in acked]
    moved, dropped, going_on = [], [], set()
    for i, seq, state, available_at in conn.execute(_FOLLOWING, (orjson.dumps(lanes),)):
        d = acked[i]
        held = (*lanes[i], d.seq, d.lease)
        if seq is None:
            dropped.append(held)
        else:
            moved.append((seq, available_at if state == "queued" else None, *held))
            going_on.add(i)
    changed = conn.executemany(
        "UPDATE lanes SET head = ?, ready_at = ?, lease = NULL, worker = NULL"
        " WHERE destination = ? AND flow = ? AND key = ? AND head = ? AND lease = ?",
        moved,
    ).rowcount
    changed += conn.executemany(
        "DELETE FROM lanes WHERE destination = ? AND flow = ? AND key = ? AND head = ?"
        " AND lease = ?",
        dropped,
    ).rowcount
    if changed != len(acked):  # the leases were checked in this transaction
        raise RuntimeError(f"{len(acked) - changed} of {len(acked)} lanes changed under an ack")
    return going_on


def ack_many(
    conn: sqlite3.Connection, acks: Sequence[Ack], clock: Callable[[], float]
) -> list[Refused | bool]:
    """The writer's grouped operation for acks: settle each delivery whose lease is held
    (hand its lane on, create its forwards, journal, count), in order; `LeaseLost` for the
    others, which write nothing. For each settled one, whether its lane goes on (it holds
    a later delivery)."""
    now = clock()
    held = _held(conn, acks)
    if not held:
        return [Refused(lease_lost(a.delivery)) for a in acks]
    conn.executemany("DELETE FROM entries WHERE seq = ?", [(a.delivery.seq,) for a in held])
    rows, messages = Inserts(), []
    queued = MessageStatus.QUEUED.value
    seq = next_seq(conn) if any(a.forward for a in held) else 0
    for a in held:
        m = a.delivery.message
        rows.journal += journal_params(a.rows, now)
        seq, _ = rows.created(m, a.forward, seq, now)
        filtered = not a.forward and any(r.step is Step.FILTERED for r in a.rows)
        settled = MessageStatus.FILTERED if filtered else MessageStatus.DELIVERED
        messages.append((len(a.forward) - 1, 0, now, queued, settled.value, m.id))
    conn.executemany(INSERT_ENTRIES, rows.entries)
    going_on = _hand_on(conn, [a.delivery for a in held])
    conn.executemany(INSERT_LANES, rows.lanes)
    conn.executemany(INSERT_JOURNAL, rows.journal)
    conn.executemany(UPDATE_MESSAGE, messages)
    goes_on = {id(a): i in going_on for i, a in enumerate(held)}
    return [goes_on[id(a)] if id(a) in goes_on else Refused(lease_lost(a.delivery)) for a in acks]


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
