"""One measurement of one system: a throughput phase, then a latency phase, then its RSS.

Throughput: the load generator sends with ``concurrency`` senders (closed loop) for
``warmup + window`` seconds. *Delivered* is the number of distinct orders that reached the
target during the window, divided by its length; *intake* is the number of 202 answers the
sender received during the same window. Then everything accepted is given time to arrive.

Latency: the sender sends at a fixed rate (open loop) for ``rate_warmup + rate_window``
seconds. For each order answered 202 after the warm-up: the target's arrival time minus the
sender's receipt of the 202 (both ``time.monotonic()``, the same clock in every process).

Peak RSS: the sum of VmHWM over the system's processes, read before it is stopped.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from common import (
    HERE,
    cpu_seconds,
    descendants,
    load_average,
    machine_busy_seconds,
    map_order,
    order,
    own_seconds,
    peak_rss_mib,
    sequence_of,
    stop,
)
from systems import Running, System, start


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int
    warmup: float  # seconds of load before the throughput window
    window: float  # seconds of the throughput window
    rate_warmup: float
    rate_window: float
    drain: float  # most seconds allowed for accepted orders to arrive after the load


FULL = Sizes(rounds=3, warmup=3, window=10, rate_warmup=2, rate_window=10, drain=120)
QUICK = Sizes(rounds=1, warmup=2, window=5, rate_warmup=1, rate_window=5, drain=60)
SMOKE = Sizes(rounds=1, warmup=1, window=2, rate_warmup=0.5, rate_window=1.5, drain=30)


@dataclass(slots=True)
class Result:
    delivered: float = 0.0  # msg/s at the target in the window
    intake: float = 0.0  # 202/s at the sender in the window
    p50_ms: float = math.nan  # 202 -> target, at the fixed rate
    p99_ms: float = math.nan
    ack_p99_ms: float = math.nan  # send -> 202, at the fixed rate
    cpu_us: float = math.nan  # CPU time of the system's processes per accepted message
    rss_mib: float = 0.0
    load: float = 0.0  # the machine's load average when the measurement started
    others: float = 0.0  # cores used by processes outside the benchmark, on average
    accepted: int = 0  # 202 answers, both phases
    lost: int = 0  # accepted but not at the target when the drain ended
    refused: int = 0  # answers other than 202, and failed requests
    duplicates: int = 0
    backlog_s: float = 0.0  # throughput phase: seconds from the load's end to the last arrival
    problems: list[str] = field(default_factory=list)


class Target:
    """Client of target.py's bookkeeping endpoints."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def _call(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return orjson.loads(answer.read())

    def reset(self) -> None:
        self._call("/_reset", "POST")

    def count(self) -> int:
        count: int = self._call("/_state")["count"]
        return count

    def arrivals(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("/_arrivals")
        return result


def run_load(
    url: str,
    phase: str,
    folder: Path,
    *,
    mode: str,
    duration: float,
    concurrency: int = 32,
    rate: float = 500.0,
) -> dict[str, Any]:
    out = folder / f"load-{phase}.json"
    argv = [
        sys.executable,
        str(HERE / "load.py"),
        "--url",
        url,
        "--phase",
        phase,
        "--mode",
        mode,
        "--duration",
        str(duration),
        "--concurrency",
        str(concurrency),
        "--rate",
        str(rate),
        "--out",
        str(out),
    ]
    subprocess.run(argv, check=True, timeout=duration + 120)
    record: dict[str, Any] = orjson.loads(out.read_bytes())
    return record


def drain(target: Target, accepted: int, limit: float) -> None:
    """Wait until the target has ``accepted`` orders, or for ``limit`` s, or 10 s idle."""
    start = last_change = time.monotonic()
    last = -1
    while time.monotonic() - start < limit and time.monotonic() - last_change < 10:
        count = target.count()
        if count >= accepted:
            return
        if count != last:
            last, last_change = count, time.monotonic()
        time.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def check_samples(samples: dict[str, Any]) -> list[str]:
    """Each kept body must equal `map_order` of the order sent."""
    wrong = []
    for message_id, body in samples.items():
        sent = order(message_id, sequence_of(message_id), body["bench"]["sent"])
        if body != map_order(sent):
            wrong.append(f"{message_id}: got {body!r}")
    return wrong


def _tally(
    result: Result, load: dict[str, Any], seen: dict[str, Any], accepted: set[str] | int
) -> None:
    """Add up one phase. ``accepted``: the ids answered 202, or (wrk) how many there were."""
    if isinstance(accepted, int):  # lost: accepted but never arrived
        result.accepted += accepted
        result.lost += max(0, accepted - len(seen["arrivals"]))
    else:
        result.accepted += len(accepted)
        result.lost += len(accepted - seen["arrivals"].keys())
    result.refused += sum(n for s, n in load["statuses"].items() if s != "202")
    result.refused += sum(load["errors"].values())
    result.duplicates += seen["duplicates"]
    result.problems += check_samples(seen["samples"])[:3]
    if seen["invalid"]:
        result.problems.append(f"{seen['invalid']} bodies without bench.id at the target")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def ensure_wrk(install: bool) -> bool:
    """Whether wrk is there; with ``install``, install the Debian package if it is not."""
    if wrk_path() is not None:
        return True
    apt = shutil.which("apt-get")
    if not install or apt is None or os.geteuid() != 0:
        return False
    print("installing wrk (Debian package) ...", flush=True)
    done = subprocess.run(
        [apt, "install", "-y", "-q", "--no-install-recommends", "wrk"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if done.returncode != 0:
        print(f"could not install wrk: {done.stderr.strip()[-500:]}")
    return wrk_path() is not None


def run_wrk(url: str, duration: int, concurrency: int) -> dict[str, Any]:
    """Closed-loop load with wrk (one thread); the window is placed from its launch."""
    wrk = wrk_path()
    assert wrk is not None
    argv = [
        wrk,
        "-t1",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(HERE / "orders.lua"),
        url,
        "--",
        "T",
        "1",
    ]
    start_wall, start = time.time(), time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 120)
    end = time.monotonic()
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}{done.stderr}")
    record: dict[str, Any] = orjson.loads(line.removeprefix("RESULT "))
    record["errors"] = {k: v for k, v in record["errors"].items() if v}
    return {**record, "start": start, "start_wall": start_wall, "end": end}


def _intake_per_second(load: dict[str, Any], s: Sizes) -> float:
    """202 answers per second in the window, from wrk's counts per wall-clock second."""
    w0 = load["start_wall"] + s.warmup
    w1 = w0 + s.window
    seconds = [int(k) for k in load["per_second"] if w0 <= int(k) and int(k) + 1 <= w1]
    if not seconds:
        return math.nan
    return sum(load["per_second"][str(k)] for k in seconds) / len(seconds)


def throughput_phase(
    result: Result,
    running: Running,
    target: Target,
    folder: Path,
    s: Sizes,
    concurrency: int,
    generator: str,
) -> None:
    target.reset()
    pids = descendants(running.proc.pid)
    cpu = cpu_seconds(pids)
    duration = s.warmup + s.window
    if generator == "wrk":
        load = run_wrk(running.url, int(duration), concurrency)
        accepted: set[str] | int = int(load["statuses"].get("202", 0))
    else:
        load = run_load(
            running.url, "T", folder, mode="closed", duration=duration, concurrency=concurrency
        )
        accepted = {a[0] for a in load["answers"]}
    count = accepted if isinstance(accepted, int) else len(accepted)
    drain(target, count, s.drain)
    if count:
        result.cpu_us = (cpu_seconds(pids) - cpu) / count * 1e6
    seen = target.arrivals()
    w0, w1 = load["start"] + s.warmup, load["start"] + s.warmup + s.window
    result.delivered = sum(w0 <= t < w1 for t in seen["arrivals"].values()) / s.window
    if generator == "wrk":
        result.intake = _intake_per_second(load, s)
    else:
        result.intake = sum(w0 <= a[2] < w1 for a in load["answers"]) / s.window
    last = max(seen["arrivals"].values(), default=load["end"])
    result.backlog_s = max(0.0, last - load["end"])
    _tally(result, load, seen, accepted)


def rate_phase(
    result: Result, url: str, target: Target, folder: Path, s: Sizes, rate: float
) -> None:
    target.reset()
    load = run_load(
        url, "R", folder, mode="rate", duration=s.rate_warmup + s.rate_window, rate=rate
    )
    drain(target, len(load["answers"]), s.drain)
    seen = target.arrivals()
    arrivals = seen["arrivals"]
    measured = [a for a in load["answers"] if a[2] >= load["start"] + s.rate_warmup]
    latencies = [(arrivals[i] - acked) * 1000 for i, _sent, acked in measured if i in arrivals]
    result.p50_ms = percentile(latencies, 0.50)
    result.p99_ms = percentile(latencies, 0.99)
    result.ack_p99_ms = percentile([(acked - sent) * 1000 for _i, sent, acked in measured], 0.99)
    _tally(result, load, seen, {a[0] for a in load["answers"]})


def diagnose(running: Running, folder: Path) -> list[str]:
    """Why messages did not arrive: warnings in the system's log; crossdock's queue status."""
    lines = running.log.read_text(errors="replace").splitlines()
    noted = [x for x in lines if any(w in x.lower() for w in ("warn", "error", "exception"))]
    found = [f"{len(noted)} warning/error lines in {running.log}", *noted[-3:]]
    if running.system.kind == "crossdock":
        status = subprocess.run(
            [sys.executable, "-m", "crossdock", "status", "-c", str(folder / "crossdock.yaml")],
            capture_output=True,
            text=True,
            check=False,
            cwd=folder,
        )
        found.append("crossdock status:\n" + status.stdout + status.stderr)
    return found


def measure(
    system: System,
    folder: Path,
    target: Target,
    s: Sizes,
    *,
    concurrency: int,
    rate: float,
    target_port: int,
    target_pid: int,
    generator: str = "wrk",
    delivery_concurrency: int | None = None,  # default: ``concurrency``
) -> Result:
    """Start ``system``, run both phases, read its peak RSS, stop it.

    Also notes how many cores other work on the machine used meanwhile: the machine's
    busy time less that of the system, the target, the load generator and this process.
    """
    result = Result(load=load_average())
    running = start(system, folder, target_port, delivery_concurrency or concurrency)
    pids = descendants(running.proc.pid)
    wall, busy = time.monotonic(), machine_busy_seconds()
    ours = own_seconds() + cpu_seconds([target_pid, *pids])
    try:
        throughput_phase(result, running, target, folder, s, concurrency, generator)
        rate_phase(result, running.url, target, folder, s, rate)
        result.rss_mib = peak_rss_mib(descendants(running.proc.pid))
        ours = own_seconds() + cpu_seconds([target_pid, *pids]) - ours
        busy = machine_busy_seconds() - busy
        result.others = max(0.0, busy - ours) / (time.monotonic() - wall)
        if result.accepted == 0 or result.refused > 0.01 * (result.accepted + result.refused):
            result.problems.append(f"{result.refused} of its answers were not 202 (or failed)")
        if result.lost:
            result.problems += diagnose(running, folder)
        if running.proc.poll() is not None:
            result.problems.append(f"exited early with {running.proc.returncode}")
    finally:
        stop(running.proc)
    return result
