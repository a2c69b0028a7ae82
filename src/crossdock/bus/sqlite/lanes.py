"""Lane primitives of the SQLite backend, shared by its write operations.

Every function here takes the write connection first and runs inside a group-commit
transaction; they follow the writer's rule: check, then write (domain errors are raised
before the first write). `enqueue` stores new messages, `settle` claims and settles
deliveries, `deadletter` replays and discards parked ones.
"""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from crossdock.bus.base import Delivery, Event, MessageStatus, Step
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import LeaseLost

Lane = tuple[str, str, str]  # destination, flow, key


class _LeaseTokens:
    """Lease tokens: a random prefix per process (drawn again in a forked child) and a
    counter. Unique like 16 random bytes per lease, at a quarter of the cost."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = secrets.token_hex(10)
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


lease_token = _LeaseTokens()
"""A new lease token, unique to this lease."""


@dataclass(frozen=True, slots=True)
class JournalRow:
    message_id: str
    step: Step
    destination: str | None
    attempt: int | None
    detail: bytes | None
    payload: bytes | None


def journal_rows(
    message_id: str,
    destination: str | None,
    attempt: int | None,
    events: Iterable[Event],
    encoded: tuple[JSON, bytes] | None = None,
) -> list[JournalRow]:
    """The events as rows. ``encoded`` is a payload and its encoding: an event whose
    payload is that very object reuses it instead of encoding it again."""
    return [
        JournalRow(
            message_id,
            e.step,
            destination,
            attempt,
            orjson.dumps(e.detail) if e.detail else None,
            _encode(e.payload, encoded),
        )
        for e in events
    ]


def _encode(payload: JSON | None, encoded: tuple[JSON, bytes] | None) -> bytes | None:
    if payload is None:
        return None
    if encoded is not None and payload is encoded[0]:
        return encoded[1]
    return orjson.dumps(payload)


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease to take on a new delivery as it is stored, if nothing is before it in its
    lane: it is then created leased to ``worker``, as `claim` would lease it."""

    token: str
    worker: str
    seconds: float


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A delivery to create (a `Forward`), encoded before it reaches the writer."""

    destination: str
    payload: bytes | None  # None: the message body
    rows: Sequence[JournalRow]
    available_at: float | None
    lease: Lease | None = None  # see `Lease`; only honoured by `insert_messages`


@dataclass(frozen=True, slots=True)
class Leased:
    """A new delivery created leased (its `NewEntry` had a `Lease` and its lane was free)."""

    entry: NewEntry
    seq: int
    expires: float


EntryParams = tuple[int, str, str, str, str, bytes | None, int, float, float]
LaneParams = tuple[str, str, str, int, float, str | None, str | None]


@dataclass(slots=True)
class Inserts:
    """Parameters for `INSERT_ENTRIES`, `INSERT_LANES` and `INSERT_JOURNAL`, gathered for
    one ``executemany`` each."""

    entries: list[EntryParams] = field(default_factory=list)
    lanes: list[LaneParams] = field(default_factory=list)
    journal: list[JournalParams] = field(default_factory=list)

    def created(
        self,
        message: Message,
        created: Iterable[NewEntry],
        seq: int,
        now: float,
        taken: set[Lane] | None = None,
    ) -> tuple[int, list[Leased]]:
        """Add ``message``'s new deliveries from sequence number ``seq``; the next one, and
        the deliveries created leased.

        ``taken``: the lanes that exist (in the store, or created earlier in this
        transaction); a new delivery with a `Lease` is created leased unless its lane is
        among them. None: every delivery is created queued. New lanes are added to it.
        """
        m, leased = message, []
        for e in created:
            lane = (e.destination, m.flow, m.key)
            available = now if e.available_at is None else e.available_at
            lease = e.lease
            if taken is None or lane in taken or available > now:
                lease = None  # its lane holds earlier deliveries (or it is not due yet)
            attempt = 0 if lease is None else 1  # leased: as a claim counts it
            self.entries.append(
                (seq, m.id, e.destination, m.flow, m.key, e.payload, attempt, available, now)
            )
            if lease is None:
                self.lanes.append((*lane, seq, available, None, None))
            else:
                expires = now + lease.seconds
                self.lanes.append((*lane, seq, expires, lease.token, lease.worker))
                leased.append(Leased(e, seq, expires))
            if taken is not None:
                taken.add(lane)
            self.journal += journal_params(e.rows, now)
            seq += 1
        return seq, leased


INSERT_ENTRIES = (
    "INSERT INTO entries (seq, message_id, destination, flow, key, payload, state, attempt,"
    " available_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)"
)
INSERT_LANES = (
    "INSERT INTO lanes (destination, flow, key, head, ready_at, lease, worker)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_JOURNAL = (
    "INSERT INTO journal (message_id, at, step, destination, attempt, detail, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


JournalParams = tuple[str, float, str, str | None, int | None, bytes | None, bytes | None]


def journal_params(rows: Iterable[JournalRow], now: float) -> list[JournalParams]:
    """`INSERT_JOURNAL`'s parameters for ``rows``, written at ``now``."""
    return [
        (r.message_id, now, r.step.value, r.destination, r.attempt, r.detail, r.payload)
        for r in rows
    ]


def write_journal(conn: sqlite3.Connection, rows: Sequence[JournalRow], now: float) -> None:
    if rows:
        conn.executemany(INSERT_JOURNAL, journal_params(rows, now))


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


def lease_lost(delivery: Delivery) -> LeaseLost:
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
        raise lease_lost(delivery)
    return lane


UPDATE_MESSAGE = (
    "UPDATE messages SET open_count = open_count + ?1, parked_count = parked_count + ?2,"
    " updated_at = ?3, status = CASE WHEN parked_count + ?2 > 0 THEN 'parked'"
    " WHEN open_count + ?1 > 0 THEN ?4 ELSE ?5 END WHERE id = ?6"
)
"""Adjusts a message's counters; its status follows from them: parked > 0 -> parked;
open > 0 -> the pending status (?4); otherwise the settled one (?5)."""


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
    """Adjust the message's counters (`UPDATE_MESSAGE`)."""
    conn.execute(
        UPDATE_MESSAGE,
        (open_delta, parked_delta, now, pending.value, settled.value, message_id),
    )


def next_seq(conn: sqlite3.Connection) -> int:
    """The sequence number AUTOINCREMENT would give the next entry (after the largest ever
    used), so that a caller can name a lane's head without a statement per entry."""
    last: int = conn.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0),"
        " coalesce((SELECT max(seq) FROM entries), 0))"
    ).fetchone()[0]
    return last + 1
