"""No acknowledged enqueue is lost when the process is killed (SIGKILL) mid-stream.

A child process (``crash_child.py``) enqueues without pause from many concurrent tasks
and prints each message id only after ``enqueue`` returned. The parent kills it at a
random moment, again and again on the same store file, so each new child also has to
recover the file the previous one left behind. Then every acknowledged id must be
claimable from ``intake``, per key in the order it was acknowledged, and SQLite must find
the file intact.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from crossdock.bus import INTAKE, SqliteBackend

CHILD = Path(__file__).with_name("crash_child.py")
RUNS = 30
TASKS = 64
MIN_ACKNOWLEDGED = 3_000  # far below what 30 runs produce; catches a child that never wrote


class _Reader(threading.Thread):
    """Collects the child's complete stdout lines; signals when it reports ready."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.ready = threading.Event()
        self.acked: list[tuple[str, str]] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith("\n"):  # cut by the kill: not a whole acknowledgement
                break
            if line == "ready\n":
                self.ready.set()
                continue
            key, message_id = line.split()
            self.acked.append((key, message_id))


def _run_and_kill(store: Path, run: int, delay: float) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(CHILD), str(store), str(run), str(TASKS)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        reader = _Reader(proc)
        reader.start()
        try:
            if not reader.ready.wait(30):
                raise AssertionError(f"run {run}: the child did not report ready")
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(10)
            reader.join(10)
    assert proc.returncode == -signal.SIGKILL, f"run {run}: child ended on its own"
    return reader.acked


async def _drain(store: Path) -> dict[str, list[str]]:
    """Claim and ack everything in intake; the claimed ids per key, in claim order."""
    backend = await SqliteBackend.open(store)
    claimed: dict[str, list[str]] = defaultdict(list)
    try:
        while batch := await backend.claim(INTAKE, worker="verify", limit=1000, lease_seconds=3600):
            for delivery in batch:
                claimed[delivery.message.key].append(delivery.message.id)
            await asyncio.gather(*(backend.ack(d) for d in batch))
    finally:
        await backend.close()
    return claimed


@pytest.mark.slow
def test_no_acknowledged_enqueue_is_lost_on_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "crash.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    acked: dict[str, list[str]] = defaultdict(list)  # per key, in acknowledgement order
    for run in range(RUNS):
        for key, message_id in _run_and_kill(store, run, rng.uniform(0.05, 0.4)):
            acked[key].append(message_id)

    claimed = asyncio.run(_drain(store))

    all_claimed = {mid for ids in claimed.values() for mid in ids}
    assert len(all_claimed) == sum(map(len, claimed.values())), "a message was claimed twice"
    acknowledged = sum(map(len, acked.values()))
    present = sum(mid in all_claimed for ids in acked.values() for mid in ids)
    lost = acknowledged - present
    print(f"seed={seed} acknowledged={acknowledged} present={present} lost={lost}")
    assert lost == 0
    assert acknowledged >= MIN_ACKNOWLEDGED
    for key, ids in acked.items():
        wanted = set(ids)
        in_claim_order = [mid for mid in claimed[key] if mid in wanted]
        assert in_claim_order == ids, f"key {key}: claimed out of acknowledgement order"

    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
