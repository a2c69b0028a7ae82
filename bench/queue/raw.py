"""The raw SQLite ceilings the queue benchmark compares crossdock with.

Same Python, same ``sqlite3`` module, same pragmas as the store (WAL, ``synchronous=FULL``),
one thread, no asyncio, no lanes, no journal: what the disk and SQLite allow for the
same work, batch for batch. Rows are built before the clock starts.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

Row = tuple[str, bytes]


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def insert_rate(path: Path, rows: Sequence[Row], batch: int) -> float:
    """Rows per second: plain INSERTs, one transaction per ``batch`` rows."""
    conn = connect(path)
    try:
        conn.execute("CREATE TABLE t (id TEXT NOT NULL, body BLOB NOT NULL)")
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t (id, body) VALUES (?, ?)", rows[i : i + batch])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - start)
    finally:
        conn.close()


def cycle_rate(path: Path, rows: Sequence[Row], batch: int) -> float:
    """Rows per second: take the ``batch`` oldest rows and delete them, one transaction each.

    The bare consume cycle of a queue without lanes, leases or journal.
    """
    conn = connect(path)
    try:
        conn.execute("CREATE TABLE q (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO q (id, body) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        done = 0
        start = time.perf_counter()
        while True:
            conn.execute("BEGIN IMMEDIATE")
            taken = conn.execute(
                "SELECT seq, id, body FROM q ORDER BY seq LIMIT ?", (batch,)
            ).fetchall()
            conn.executemany("DELETE FROM q WHERE seq = ?", [(seq,) for seq, _, _ in taken])
            conn.execute("COMMIT")
            if not taken:
                break
            done += len(taken)
        return done / (time.perf_counter() - start)
    finally:
        conn.close()
