"""End-to-end benchmark: crossdock against a naive Python pipeline and Node-RED, on loopback.

    python bench/e2e/run.py            # full run: 3 rounds of every system (~15 minutes)
    python bench/e2e/run.py --quick    # 1 short round (~2 minutes)
    python bench/e2e/run.py --smoke    # seconds: crossdock, naive, the durable floors

The same flow everywhere: a webhook POST of a ~1 KB JSON order, answered 202; the same
mapping (rename, constant, value maps); a POST of the mapped order to one target server
(target.py), which answers 201. The same load generator (load.py) drives every system.

- crossdock: ``crossdock run`` (durable SQLite queue, journal, group commit), 1 process
  and ``--workers 2``;
- naive (naive.py): parse, map, ``asyncio.Queue``, aiohttp client; no durability; a raw
  ASGI app on uvicorn and an aiohttp.web app, 1 process and 2 (SO_REUSEPORT);
- durable floor (naive.py --durable): the naive ASGI pipeline that answers 202 only once
  the order is in SQLite (group commit, fsync), and deletes it once delivered: the least
  a durable pipeline does, without journal, retries, per-key order or recovery;
- Node-RED (nodered.py): ``http in`` -> ``function`` -> ``http request``, 202 from
  ``http response``.

Per system and round (measure.py): delivered and intake msg/s at ``--concurrency``
senders (wrk; load.py without it), p50/p99 latency from the sender's 202 to the target's
receipt at ``--rate`` msg/s (load.py), CPU time per message, peak RSS, and how much CPU
other work on the machine took meanwhile. Before each measurement it waits (a while) for
the machine to be quiet. Prints the medians over the rounds, the ratios and the targets.
``docs/benchmarks.md`` ("End to end") explains the figures and holds a full run.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import nodered
import orjson
from common import (
    HERE,
    child_env,
    cpu_seconds,
    free_port,
    load_average,
    machine_busy_seconds,
    own_seconds,
    stop,
    wait_ready,
)
from measure import FULL, QUICK, SMOKE, Result, Sizes, Target, ensure_wrk, measure
from systems import System

ALL = [
    System("crossdock", 1),
    System("crossdock", 2),
    System("naive-asgi", 1),
    System("naive-asgi", 2),
    System("naive-aiohttp", 1),
    System("naive-aiohttp", 2),
    System("durable", 1),
    System("durable", 2),
    System("durable-shared", 2),
    System("node-red", 1),
]
QUICK_SYSTEMS = [s for s in ALL if s.kind != "naive-aiohttp"]
SMOKE_SYSTEMS = [
    System("crossdock", 1),
    System("naive-asgi", 1),
    System("durable", 1),
    System("durable-shared", 2),
]

# Targets of the issue.
MIN_OF_NAIVE = 0.60
MIN_OVER_NODE_RED = 2.0
MAX_P99_MS = 50.0
QUIET = 0.15  # cores used by other work below which the machine counts as quiet
QUIET_BUDGET = 150.0  # most seconds spent waiting for quiet in one run


def median(results: Sequence[Result], name: str) -> float:
    values = [getattr(r, name) for r in results if not math.isnan(getattr(r, name))]
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def print_table(results: dict[System, list[Result]]) -> None:
    header = (
        "system",
        "procs",
        "delivered/s",
        "intake/s",
        "p50 ms",
        "p99 ms",
        "202 p99 ms",
        "CPU us/msg",
        "peak RSS MiB",
        "others",
        "rounds (delivered/s)",
    )
    rows = [header]
    for system, runs in results.items():
        rows.append(
            (
                system.label,
                str(system.processes),
                fmt(median(runs, "delivered")),
                fmt(median(runs, "intake")),
                fmt(median(runs, "p50_ms"), 1),
                fmt(median(runs, "p99_ms"), 1),
                fmt(median(runs, "ack_p99_ms"), 1),
                fmt(median(runs, "cpu_us")),
                fmt(median(runs, "rss_mib")),
                fmt(median(runs, "others"), 2),
                " ".join(fmt(r.delivered) for r in runs),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1], strict=True)]
        print("  ".join([*cells, row[-1]]))


def _verdict(met: bool, target: str) -> str:
    return f"{'met' if met else 'MISSED'} (target {target})"


def print_ratios(results: dict[System, list[Result]]) -> None:
    delivered = {s: median(r, "delivered") for s, r in results.items()}
    print()
    for procs in (1, 2):
        ours = delivered.get(System("crossdock", procs))
        naive = {s: v for s, v in delivered.items() if s.family == "naive" and s.processes == procs}
        if ours is None or not naive:
            continue
        best = max(naive, key=lambda s: naive[s])
        ratio = ours / naive[best]
        print(
            f"crossdock / naive, {procs} process{'es' if procs > 1 else ''}: "
            f"{ratio:.0%} of {best.label} (the faster naive) — "
            f"{_verdict(ratio >= MIN_OF_NAIVE, f'>= {MIN_OF_NAIVE:.0%}')}"
        )
    floors = [s for s in delivered if s.family == "durable"]
    for floor in sorted(floors, key=lambda s: (s.processes, s.kind)):
        procs = floor.processes
        naive = max(
            (v for s, v in delivered.items() if s.family == "naive" and s.processes == procs),
            default=None,
        )
        ours = delivered.get(System("crossdock", procs))
        if naive:
            print(
                f"{floor.label} / naive: {delivered[floor] / naive:.0%} (a pipeline that "
                "answers 202 only for what is on disk, and does nothing else)"
            )
        if ours:
            print(
                f"crossdock{'' if procs == 1 else f' --workers {procs}'} / {floor.label}: "
                f"{ours / delivered[floor]:.0%} (journal, lanes, leases, retries, metrics)"
            )
    node_red = delivered.get(System("node-red", 1))
    for procs in (1, 2):
        ours = delivered.get(System("crossdock", procs))
        if ours is None or not node_red:
            continue
        ratio = ours / node_red
        note = "" if procs == 1 else " (crossdock with 2 processes against 1 Node-RED process)"
        print(
            f"crossdock / Node-RED, crossdock {procs} process{'es' if procs > 1 else ''}: "
            f"{ratio:.1f}x — {_verdict(ratio >= MIN_OVER_NODE_RED, f'>= {MIN_OVER_NODE_RED:g}x')}"
            f"{note}"
        )
    for procs in (1, 2):
        runs = results.get(System("crossdock", procs))
        if runs:
            p99 = median(runs, "p99_ms")
            print(
                f"crossdock p99 (202 -> target) at the fixed rate, {procs} process"
                f"{'es' if procs > 1 else ''}: {fmt(p99, 1)} ms — "
                f"{_verdict(p99 < MAX_P99_MS, f'< {MAX_P99_MS:g} ms')}"
            )


def code_state() -> str:
    """The crossdock code measured: commit, and a digest of uncommitted changes in src/."""
    root = HERE.parent.parent

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=root, capture_output=True, check=False)
        return done.stdout.decode(errors="replace").strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    diff = git("diff", "HEAD", "--", "src")
    if not diff:
        return head
    digest = hashlib.sha1(diff.encode()).hexdigest()[:10]
    return f"{head} + uncommitted src/ changes (diff sha1 {digest})"


def machine() -> str:
    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    node = shutil.which("node")
    node_version = (
        subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if node
        else "none"
    )
    return (
        f"cpus={os.cpu_count()} memory={memory} python={platform.python_version()} "
        f"node={node_version} platform={platform.platform()}"
    )


def start_target(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (folder / "target.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "target.py"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env(),
        start_new_session=True,
    )
    wait_ready(f"http://127.0.0.1:{port}/_state", proc)
    return proc, port


def bench(
    folder: Path, systems: Sequence[System], s: Sizes, args: argparse.Namespace
) -> tuple[dict[System, list[Result]], list[str]]:
    results: dict[System, list[Result]] = {system: [] for system in systems}
    problems: list[str] = []
    target_proc, target_port = start_target(folder)
    target = Target(target_port)
    waited = 0.0
    try:
        for r in range(s.rounds):
            for system in systems:
                where = folder / f"r{r + 1}-{system.kind}-{system.processes}"
                if args.quiet_wait > 0:
                    budget = min(args.quiet_wait, QUIET_BUDGET - waited)
                    waited += wait_quiet(max(0.0, budget), target_proc.pid)
                try:
                    result = measure(
                        system,
                        where,
                        target,
                        s,
                        concurrency=args.concurrency,
                        rate=args.rate,
                        target_port=target_port,
                        target_pid=target_proc.pid,
                        generator=args.generator,
                        delivery_concurrency=args.delivery_concurrency,
                    )
                except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
                    problems.append(f"round {r + 1}, {system.label}: {exc}")
                    print(f"round {r + 1}/{s.rounds} {system.label}: FAILED {exc}", flush=True)
                    continue
                results[system].append(result)
                problems += [f"round {r + 1}, {system.label}: {p}" for p in result.problems]
                if result.lost or result.duplicates:
                    problems.append(
                        f"round {r + 1}, {system.label}: {result.lost} lost, "
                        f"{result.duplicates} duplicates"
                    )
                print(
                    f"round {r + 1}/{s.rounds} {system.label}: "
                    f"delivered {result.delivered:,.0f}/s, intake {result.intake:,.0f}/s, "
                    f"p50 {fmt(result.p50_ms, 1)} ms, p99 {fmt(result.p99_ms, 1)} ms, "
                    f"CPU {fmt(result.cpu_us)} us/msg, RSS {result.rss_mib:,.0f} MiB, "
                    f"others {result.others:.2f} cores, accepted {result.accepted:,}, "
                    f"refused {result.refused:,}, lost {result.lost:,}, "
                    f"backlog drained in {result.backlog_s:.1f} s",
                    flush=True,
                )
    finally:
        stop(target_proc)
    return {k: v for k, v in results.items() if v}, problems


def others_now(target_pid: int, seconds: float = 2.0) -> float:
    """Cores used by other work on the machine over the next ``seconds`` (nothing of ours
    runs but the idle target)."""
    busy, ours = machine_busy_seconds(), own_seconds() + cpu_seconds([target_pid])
    time.sleep(seconds)
    ours = own_seconds() + cpu_seconds([target_pid]) - ours
    return max(0.0, machine_busy_seconds() - busy - ours) / seconds


def wait_quiet(limit: float, target_pid: int) -> float:
    """Wait (at most ``limit`` s) until other work uses under `QUIET` cores; seconds waited."""
    start = time.monotonic()
    others = others_now(target_pid)
    while others >= QUIET and time.monotonic() - start < limit:
        others = others_now(target_pid)
    waited = time.monotonic() - start
    if waited > 3:
        state = "quiet" if others < QUIET else "still busy"
        print(
            f"  waited {waited:.0f} s for the machine: {state} ({others:.2f} cores used by "
            "other work)",
            flush=True,
        )
    return waited


def generator(args: argparse.Namespace) -> str:
    """The load generator of the throughput phase: wrk (installed unless --smoke) or python."""
    if args.load_generator == "python":
        return "python"
    if ensure_wrk(install=not args.smoke):
        return "wrk"
    if args.load_generator == "wrk":
        sys.exit("wrk is not installed and could not be installed")
    print("wrk not available: the throughput phase uses load.py (Python) instead")
    return "python"


def choose(args: argparse.Namespace) -> tuple[Sizes, list[System]]:
    if args.smoke:
        s, systems = SMOKE, SMOKE_SYSTEMS
    elif args.quick:
        s, systems = QUICK, QUICK_SYSTEMS
    else:
        s, systems = FULL, ALL
    if args.systems:
        wanted = set(args.systems.split(","))
        systems = [x for x in ALL if x.kind in wanted or x.family in wanted]
    if args.rounds:
        s = replace(s, rounds=args.rounds)
    return s, systems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one short round (~2 minutes)")
    mode.add_argument(
        "--smoke", action="store_true", help="seconds; crossdock, naive and the durable floors"
    )
    parser.add_argument("--rounds", type=int, help="rounds (default: full 3, quick/smoke 1)")
    parser.add_argument(
        "--systems",
        help="comma-separated subset: crossdock, naive, naive-asgi, naive-aiohttp, durable, "
        "node-red",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="senders of the throughput phase (default 32)",
    )
    parser.add_argument(
        "--delivery-concurrency",
        type=int,
        default=128,
        help="deliveries in flight per process: crossdock's endpoint concurrency and the naive "
        "pipeline's workers (default 128); Node-RED has no limit",
    )
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="throughput phase: wrk (installed from Debian if missing; --smoke only uses it "
        "if present) or load.py; auto: wrk, else load.py",
    )
    parser.add_argument("--rate", type=float, default=500.0, help="msg/s of the latency phase")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="before each measurement, wait up to this many seconds for other work on the "
        "machine to use under 0.15 cores (default: 60, at most 150 in all; --smoke 0)",
    )
    parser.add_argument("--json", type=Path, help="also write every round's figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    s, systems = choose(args)
    started = time.monotonic()
    args.generator = generator(args)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.smoke else 60.0
    if any(x.kind == "node-red" for x in systems):
        nodered.ensure_installed()
    print(f"machine: {machine()}")
    print(f"crossdock code: {code_state()}")
    busy = load_average()
    if busy > 0.25 * (os.cpu_count() or 1):
        print(
            f"WARNING: load average {busy:.1f} before starting: other work on this machine "
            "will skew the figures (compare the CPU us/msg column, which it skews less)"
        )
    print(
        f"rounds: {s.rounds}; delivery concurrency "
        f"{args.delivery_concurrency or args.concurrency} per process; "
        f"throughput: {args.concurrency} senders ({args.generator}), "
        f"{s.warmup:g} s warm-up + {s.window:g} s window; latency: {args.rate:g} msg/s "
        f"(load.py), {s.rate_warmup:g} s warm-up + {s.rate_window:g} s window",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="crossdock-e2e-"))
    try:
        results, problems = bench(folder, systems, s, args)
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print_table(results)
    print_ratios(results)
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {s.label: [asdict(r) for r in runs] for s, runs in results.items()},
                option=orjson.OPT_INDENT_2,
            )
        )
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"total time: {time.monotonic() - started:,.0f} s")
    return 1 if problems or len(results) < len(systems) else 0


if __name__ == "__main__":
    sys.exit(main())
