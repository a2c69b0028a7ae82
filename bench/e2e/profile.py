"""Where crossdock's time goes under the throughput load of run.py (py-spy, sampling).

    python bench/e2e/profile.py [--workers 2] [--seconds 15] [--out DIR] [--native]
    python bench/e2e/profile.py --cpu-only [--workers 2]

Starts the target and ``crossdock run`` as run.py does, drives the closed-loop load, and
after a warm-up samples crossdock's processes with py-spy (``--nonblocking``, on-CPU
samples only, the writer thread included). Prints the functions with the most samples,
by self time and inclusive time, per thread kind; keeps the raw stacks
(``crossdock.raw``, folded stacks, one line per stack) in ``--out``. ``--native`` adds
C frames and system calls (py-spy pauses the process to take them, so it runs slower);
``--cpu-only`` skips py-spy and prints only the CPU per thread, without its overhead.

py-spy is not a project dependency: install it apart, e.g.
``python3 -m venv bench/.cache/tools && bench/.cache/tools/bin/pip install py-spy``
(found there, through ``$PYSPY`` or on PATH).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import HERE, child_env, descendants, free_port, stop, wait_ready
from measure import Target, ensure_wrk, run_load, run_wrk
from systems import System, start


def py_spy() -> str:
    candidates = [
        os.environ.get("PYSPY"),
        str(HERE.parent / ".cache/tools/bin/py-spy"),
        shutil.which("py-spy"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("py-spy not found: see this script's docstring")


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds used so far per thread name, summed over ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    used: collections.Counter[str] = collections.Counter()
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1]
            except OSError:
                continue
            values = fields.split()
            kind = "main (event loop)" if tid == str(pid) else f"{name} (writer, reader)"
            used[kind] += (int(values[11]) + int(values[12])) / tick
    return dict(used)


def disk_writes(pids: list[int]) -> int:
    """Bytes written to storage so far by ``pids`` (``write_bytes`` of /proc/PID/io)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                total += int(line.split()[1])
    return total


def summarize(raw: Path, top: int) -> None:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        threads["writer thread" if "Writer._run" in stack else "event loop"] += n
        self_time[stack.split(";")[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        print("no samples")
        return
    print(f"{total} samples; " + ", ".join(f"{k} {v / total:.0%}" for k, v in threads.items()))
    print("\nself (line):")
    for frame, n in self_time.most_common(top):
        print(f"  {n / total:6.1%}  {frame}")
    print("\ninclusive (function):")
    for frame, n in inclusive.most_common(top * 2):
        print(f"  {n / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds sampled")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32, help="senders")
    parser.add_argument("--delivery-concurrency", type=int, help="default: --concurrency")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--native",
        action="store_true",
        help="native frames too (C code, system calls); pauses the process to sample it",
    )
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="no sampling: only the CPU per thread, without py-spy's own cost",
    )
    parser.add_argument("--out", type=Path, help="folder for the raw stacks (default: temp)")
    args = parser.parse_args()
    spy = None if args.cpu_only else py_spy()
    use_wrk = ensure_wrk(install=True)
    if not use_wrk:
        print("wrk not available: the load comes from load.py (Python), which takes a good")
        print("share of the CPU itself; the figures are not comparable with wrk's")
    folder = Path(tempfile.mkdtemp(prefix="crossdock-profile-"))
    out = args.out or folder
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "crossdock.raw"
    target_port = free_port()
    target_proc = subprocess.Popen(
        [sys.executable, str(HERE / "target.py"), "--port", str(target_port)],
        env=child_env(),
        start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{target_port}/_state", target_proc)
        running = start(
            System("crossdock", args.workers),
            folder / "crossdock",
            target_port,
            args.delivery_concurrency or args.concurrency,
        )
        target = Target(target_port)
        try:
            duration = args.warmup + args.seconds + 1
            if use_wrk:  # wrk leaves more of the CPU to crossdock
                load = threading.Thread(
                    target=run_wrk, args=(running.url, int(duration) + 1, args.concurrency)
                )
            else:
                load = threading.Thread(
                    target=run_load,
                    args=(running.url, "T", folder),
                    kwargs={
                        "mode": "closed",
                        "duration": duration,
                        "concurrency": args.concurrency,
                    },
                )
            load.start()
            threading.Event().wait(args.warmup)
            pids = descendants(running.proc.pid)
            before, delivered, wall = thread_cpu(pids), target.count(), time.monotonic()
            written = disk_writes(pids)
            if spy is None:
                threading.Event().wait(args.seconds)
            else:
                subprocess.run(
                    [
                        spy,
                        "record",
                        "--native" if args.native else "--nonblocking",
                        "--subprocesses",
                        "--threads",
                        "-p",
                        str(running.proc.pid),
                        "-d",
                        str(int(args.seconds)),
                        "-f",
                        "raw",
                        "-o",
                        str(raw),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            after, delivered = thread_cpu(pids), target.count() - delivered
            written = disk_writes(pids) - written
            wall = time.monotonic() - wall
            load.join()
            print(f"sampled {wall:.1f} s; delivered {delivered:,} ({delivered / wall:,.0f}/s)")
            print(
                f"written to disk: {written / 1e6:,.1f} MB, "
                f"{written / max(delivered, 1) / 1024:,.1f} KiB per message"
            )
            print("CPU per thread while sampled:")
            for name, seconds in sorted(after.items(), key=lambda kv: -kv[1]):
                used = seconds - before.get(name, 0.0)
                if used > 0.005:
                    print(
                        f"  {name:<20} {used:6.2f} s = {used / wall:4.0%} of a core, "
                        f"{used / max(delivered, 1) * 1e6:5.0f} us/msg"
                    )
        finally:
            stop(running.proc)
    finally:
        stop(target_proc)
    if spy is not None:
        summarize(raw, args.top)
        print(f"\nraw stacks: {raw}")


if __name__ == "__main__":
    main()
