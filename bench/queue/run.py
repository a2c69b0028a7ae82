"""Queue benchmark of the embedded (SQLite) backend against the raw SQLite ceiling.

    python bench/queue/run.py            # full run (fills 1,000,000 messages; minutes)
    python bench/queue/run.py --quick    # short run (well under half a minute)

Measures, in one temporary directory (one disk), several rounds each, and prints medians:

1. durable enqueue through crossdock, 1 KB JSON bodies, ``C`` concurrent callers, and the
   mean group-commit batch the writer achieved;
2. the raw ceiling for that work: plain INSERTs of 1 KB rows in transactions of that same
   batch size, and of 1 row;
3. claim + ack through crossdock (lanes, leases, journal) with ``K`` workers claiming up
   to ``L`` each, over many keys; and the raw ceiling: take the oldest rows and delete
   them, as many per transaction as crossdock settled per commit;
4. a fill to ``--fill`` queued messages, in a process of its own: time, peak RSS, size.

``docs/benchmarks.md`` explains each figure and holds the results of a full run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import raw

from crossdock.bus import INTAKE, SqliteBackend
from crossdock.core.envelope import JSON, Message, new_message_id

KEYS = 10_000
DESCRIPTION = "Printer on floor 3 jams on every second page. " * 19


def ticket(n: int) -> dict[str, JSON]:
    """A ticket-like JSON body of about 1 KB."""
    return {
        "number": f"INC{n:07d}",
        "summary": "Printer jams",
        "priority": "3 - Moderate",
        "state": "New",
        "caller": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "description": DESCRIPTION,
    }


def messages(n: int, keys: int, start: int = 0) -> list[Message]:
    return [
        Message.new(
            flow="bench",
            source="desk",
            event_type="ticket.updated",
            body=ticket(i),
            key=f"T{i % keys}",
        )
        for i in range(start, start + n)
    ]


def raw_rows(n: int) -> list[raw.Row]:
    return [(new_message_id(), orjson.dumps(ticket(i))) for i in range(n)]


def writer_counts(backend: SqliteBackend) -> tuple[int, int]:
    """(commits, operations) of the backend's group-commit writer so far."""
    writer = backend._writer  # the benchmark looks inside on purpose
    return writer.commits, writer.operations


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int
    enqueue: int  # messages per enqueue round
    callers: int  # concurrent enqueue callers
    single: int  # rows per raw round at one row per transaction
    backlog: int  # messages pre-filled for claim + ack
    backlog_keys: int
    workers: int
    limit: int
    fill: int
    burst: int


FULL = Sizes(5, 20_000, 100, 1_000, 30_000, KEYS, 4, 100, 1_000_000, 1_000)
QUICK = Sizes(3, 2_000, 100, 200, 3_000, 1_000, 4, 100, 20_000, 1_000)


async def _enqueue_all(backend: SqliteBackend, batch: Sequence[Message], callers: int) -> None:
    async def caller(part: Sequence[Message]) -> None:
        for message in part:
            await backend.enqueue(message)

    await asyncio.gather(*(caller(batch[c::callers]) for c in range(callers)))


async def enqueue_round(path: Path, s: Sizes) -> tuple[float, float]:
    """(messages/s, operations per commit) of ``s.enqueue`` durable enqueues."""
    batch = messages(s.enqueue, KEYS)
    backend = await SqliteBackend.open(path)
    try:
        commits, ops = writer_counts(backend)
        start = time.perf_counter()
        await _enqueue_all(backend, batch, s.callers)
        elapsed = time.perf_counter() - start
        commits2, ops2 = writer_counts(backend)
    finally:
        await backend.close()
    return s.enqueue / elapsed, (ops2 - ops) / (commits2 - commits)


async def claim_round(path: Path, s: Sizes) -> tuple[float, float]:
    """(messages/s, messages settled per commit) to claim and ack a backlog of ``s.backlog``."""
    backend = await SqliteBackend.open(path)
    done = 0

    async def worker(name: str) -> None:
        nonlocal done
        while done < s.backlog:
            batch = await backend.claim(INTAKE, worker=name, limit=s.limit, lease_seconds=60)
            if not batch:  # the rest is leased by other workers; their acks free the lanes
                await asyncio.sleep(0.001)
                continue
            await asyncio.gather(*(backend.ack(d) for d in batch))
            done += len(batch)

    try:
        await _enqueue_all(backend, messages(s.backlog, s.backlog_keys), 1_000)
        commits, _ = writer_counts(backend)
        start = time.perf_counter()
        await asyncio.gather(*(worker(f"w{k}") for k in range(s.workers)))
        elapsed = time.perf_counter() - start
        commits2, _ = writer_counts(backend)
    finally:
        await backend.close()
    return done / elapsed, done / (commits2 - commits)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss may carry a parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def store_mb(path: Path) -> float:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


async def fill(path: Path, total: int, burst: int) -> dict[str, float]:
    """Enqueue ``total`` messages in concurrent bursts; runs in a process of its own."""
    backend = await SqliteBackend.open(path)
    after_open = peak_rss_mb()
    tenth = max(burst, total // 10 // burst * burst)
    marks = [(0, 0.0)]  # (messages stored, seconds), after each tenth
    try:
        start = time.perf_counter()
        for first in range(0, total, burst):
            batch = messages(min(burst, total - first), KEYS, first)
            await asyncio.gather(*(backend.enqueue(m) for m in batch))
            done = first + len(batch)
            if done % tenth == 0 or done == total:
                marks.append((done, time.perf_counter() - start))
        claim_start = time.perf_counter()
        claimed = await backend.claim(INTAKE, worker="probe", limit=100)
        claim_ms = (time.perf_counter() - claim_start) * 1000
        assert len(claimed) == min(100, total)
    finally:
        await backend.close()
    (n0, t0), (n1, t1), (n2, t2) = marks[1], marks[-2], marks[-1]
    return {
        "seconds": t2,
        "rate": n2 / t2,
        "first_rate": n0 / t0,
        "last_rate": (n2 - n1) / (t2 - t1),
        "rss_after_open_mb": after_open,
        "rss_peak_mb": peak_rss_mb(),
        "file_mb": store_mb(path),
        "claim_ms": claim_ms,
    }


def run_fill(folder: Path, s: Sizes) -> dict[str, float]:
    """Run `fill` in a child process, so that its peak RSS is the fill's alone."""
    command = [sys.executable, __file__, "--fill-only", str(s.fill), "--dir", str(folder)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


Row = tuple[str, str, str]


def _median(rounds: int, once: Callable[[int], float]) -> float:
    return statistics.median(once(r) for r in range(rounds))


def _target(met: bool, target: str) -> str:
    return f"{'met' if met else 'MISSED'} (target {target})"


def enqueue_rows(folder: Path, s: Sizes) -> list[Row]:
    runs = [asyncio.run(enqueue_round(folder / f"enqueue-{r}.db", s)) for r in range(s.rounds)]
    rate = statistics.median(rate for rate, _ in runs)
    batch = statistics.median(b for _, b in runs)
    size = max(1, round(batch))
    rows = raw_rows(s.enqueue)
    ceiling = _median(s.rounds, lambda r: raw.insert_rate(folder / f"ib-{r}.db", rows, size))
    single = _median(
        s.rounds, lambda r: raw.insert_rate(folder / f"i1-{r}.db", rows[: s.single], 1)
    )
    ratio = rate / ceiling
    return [
        ("durable enqueue, crossdock", f"{rate:,.0f} msg/s", f"C={s.callers} callers, 1 KB"),
        ("  mean group-commit batch", f"{batch:,.1f} ops", ""),
        (f"raw INSERT, batch {size}", f"{ceiling:,.0f} rows/s", "same batch, WAL, FULL"),
        ("raw INSERT, batch 1", f"{single:,.0f} rows/s", "one commit per row"),
        ("enqueue ratio crossdock/raw", f"{ratio:.2f}", _target(ratio >= 0.5, ">= 0.50")),
    ]


def claim_rows(folder: Path, s: Sizes) -> list[Row]:
    runs = [asyncio.run(claim_round(folder / f"claim-{r}.db", s)) for r in range(s.rounds)]
    rate = statistics.median(rate for rate, _ in runs)
    settled = statistics.median(b for _, b in runs)
    size = max(1, round(settled))
    rows = raw_rows(s.backlog)
    ceiling = _median(s.rounds, lambda r: raw.cycle_rate(folder / f"c-{r}.db", rows, size))
    setup = f"K={s.workers} L={s.limit}, {s.backlog:,} msgs over {s.backlog_keys:,} keys"
    return [
        ("claim+ack, crossdock", f"{rate:,.0f} msg/s", _target(rate >= 10_000, ">= 10,000/s")),
        ("  messages settled per commit", f"{settled:,.1f}", setup),
        (f"raw select+delete, batch {size}", f"{ceiling:,.0f} rows/s", "no lanes, no journal"),
        ("claim+ack ratio crossdock/raw", f"{rate / ceiling:.2f}", ""),
    ]


def fill_rows(folder: Path, s: Sizes) -> list[Row]:
    f = run_fill(folder, s)
    name = f"fill {s.fill:,}"
    rss = f["rss_peak_mb"]
    return [
        (f"{name}: time", f"{f['seconds']:,.1f} s", f"bursts of {s.burst:,} concurrent enqueues"),
        (
            f"{name}: rate",
            f"{f['rate']:,.0f} msg/s",
            f"first tenth {f['first_rate']:,.0f}/s, last tenth {f['last_rate']:,.0f}/s",
        ),
        (
            f"{name}: peak RSS",
            f"{rss:,.0f} MB",
            _target(rss < 200, "< 200 MB") + f"; {f['rss_after_open_mb']:,.0f} MB after open",
        ),
        (f"{name}: store size", f"{f['file_mb']:,.0f} MB", "db + wal"),
        (f"{name}: first claim", f"{f['claim_ms']:,.1f} ms", "limit 100, at full depth"),
    ]


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'measurement (median)':<{width}}  {'value':>{value_width}}  note")
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>{value_width}}  {note}".rstrip())


def machine() -> str:
    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return (
        f"cpus={os.cpu_count()} memory={memory} python={platform.python_version()}"
        f" sqlite={sqlite3.sqlite_version} {platform.platform()}"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--fill", type=int, help="messages to fill (1,000,000; quick 20,000)")
    parser.add_argument("--rounds", type=int, help="rounds per measurement (5; quick 3)")
    parser.add_argument("--dir", type=Path, help="where to make the temporary directory")
    parser.add_argument("--fill-only", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill_only is not None:
        print(json.dumps(asyncio.run(fill(args.dir / "fill.db", args.fill_only, FULL.burst))))
        return
    s = QUICK if args.quick else FULL
    overrides = {"fill": args.fill, "rounds": args.rounds}
    s = replace(s, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-", dir=args.dir) as tmp:
        print(f"directory: {tmp}; rounds: {s.rounds}", flush=True)
        folder = Path(tmp)
        rows = [*enqueue_rows(folder, s), *claim_rows(folder, s), *fill_rows(folder, s)]
    print_table(rows)
    print(f"load average at end: {load()}")
    print(f"total time: {time.perf_counter() - started:,.1f} s")


if __name__ == "__main__":
    main()
