"""Replay and discard of parked deliveries (write operations of the SQLite backend)."""

from __future__ import annotations

import sqlite3

from crossdock.bus.base import Event, MessageStatus, Selector, Step
from crossdock.bus.sqlite.lanes import (
    Lane,
    advance_lane,
    journal_rows,
    lane_is_leased,
    update_message,
    write_journal,
)


def _parked(conn: sqlite3.Connection, selector: Selector) -> list[tuple[int, str, Lane]]:
    clauses, params = ["state IN ('held', 'parked')"], []
    for column, value in (
        ("message_id", selector.message_id),
        ("flow", selector.flow),
        ("destination", selector.destination),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    rows = conn.execute(
        "SELECT seq, message_id, destination, flow, key FROM entries WHERE "
        + " AND ".join(clauses)
        + " ORDER BY seq",
        params,
    ).fetchall()
    return [(seq, mid, (dest, flow, key)) for seq, mid, dest, flow, key in rows]


def _reorder(conn: sqlite3.Connection, lanes: set[Lane], now: float) -> None:
    """Re-point each lane at its earliest delivery, unless it is in flight right now."""
    for lane in sorted(lanes):
        if not lane_is_leased(conn, lane, now):
            advance_lane(conn, lane)


def replay(conn: sqlite3.Connection, selector: Selector, now: float) -> int:
    """Queue the selected parked deliveries again, in their original order, fresh attempts."""
    parked = _parked(conn, selector)
    for seq, message_id, lane in parked:
        conn.execute(
            "UPDATE entries SET state = 'queued', attempt = 0, available_at = ? WHERE seq = ?",
            (now, seq),
        )
        write_journal(conn, journal_rows(message_id, lane[0], None, [Event(Step.REPLAYED)]), now)
        update_message(conn, message_id, now=now, open_delta=1, parked_delta=-1)
    _reorder(conn, {lane for _, _, lane in parked}, now)
    return len(parked)


def discard(conn: sqlite3.Connection, selector: Selector, reason: str, now: float) -> int:
    """Delete the selected parked deliveries for good, journaling the reason."""
    parked = _parked(conn, selector)
    event = Event(Step.DISCARDED, {"reason": reason})
    for seq, message_id, lane in parked:
        conn.execute("DELETE FROM entries WHERE seq = ?", (seq,))
        write_journal(conn, journal_rows(message_id, lane[0], None, [event]), now)
        update_message(conn, message_id, now=now, parked_delta=-1, settled=MessageStatus.DISCARDED)
    _reorder(conn, {lane for _, _, lane in parked}, now)
    return len(parked)
