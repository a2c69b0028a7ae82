"""The end-to-end benchmark still runs: ``bench/e2e/run.py --smoke`` (a few seconds).

It starts the target, crossdock, the naive pipeline and the durable floors (one process;
two sharing one file) on loopback, drives both phases and prints the table. Figures are
not asserted (they depend on the machine); what is asserted is that it exits 0 — every
accepted message arrived once, with the same mapping in every pipeline — and prints a
row per system and the ratio lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "e2e" / "run.py"


def test_bench_e2e_smoke_runs_and_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("system "))
    rows = [line.split("  ")[0].strip() for line in lines[header + 1 : header + 5]]
    assert rows == [
        "crossdock",
        "naive (asgi)",
        "durable floor",
        "durable floor x2, one file",
    ], output
    assert "crossdock / naive, 1 process:" in done.stdout
    assert "crossdock / durable floor:" in done.stdout
    assert "durable floor x2, one file / naive:" not in done.stdout  # no naive x2 in smoke
    assert "crossdock p99 (202 -> target)" in done.stdout
    assert "PROBLEM" not in done.stdout
