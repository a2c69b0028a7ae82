"""The queue benchmark still runs: ``bench/queue/run.py --quick`` at a tiny size.

Figures are not asserted (they depend on the machine and its load); what is asserted is
that it exits 0 and prints every row of its table, so the benchmark cannot rot unseen.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "queue" / "run.py"

ROWS = [
    "durable enqueue, crossdock",
    "mean group-commit batch",
    "raw INSERT, batch ",
    "raw INSERT, batch 1 ",
    "enqueue ratio crossdock/raw",
    "claim+ack, crossdock",
    "messages settled per commit",
    "raw select+delete, batch ",
    "claim+ack ratio crossdock/raw",
    "fill 2,000: time",
    "fill 2,000: rate",
    "fill 2,000: peak RSS",
    "fill 2,000: store size",
    "fill 2,000: first claim",
]


def test_bench_queue_quick_runs_and_prints_every_row(tmp_path: Path) -> None:
    command = [sys.executable, str(RUN), "--quick", "--fill", "2000", "--rounds", "1"]
    done = subprocess.run(
        [*command, "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("measurement (median)") :]
    for row in ROWS:
        assert row in table, f"missing row {row!r} in:\n{done.stdout}"
    assert list(tmp_path.iterdir()) == [], "the temporary directory was not cleaned up"
