"""The in-process benchmark still runs: ``bench/e2e/inprocess.py`` at a tiny size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "e2e" / "inprocess.py"


def test_bench_inprocess_runs_every_way_and_prints_the_ratios() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders", "300", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    stages = [line[:38].split() for line in lines[2:-2]]
    assert stages == [
        ["handed", "over", "intake+delivery"],
        ["handed", "over", "all"],
        ["claimed", "intake+delivery"],
        ["claimed", "all"],
        ["via", "the", "intake", "queue", "intake"],
        ["via", "the", "intake", "queue", "processor"],
        ["via", "the", "intake", "queue", "delivery"],
        ["via", "the", "intake", "queue", "all"],
    ], done.stdout
    assert lines[-2].startswith("handed over / claimed: "), done.stdout
    assert lines[-1].startswith("handed over / via the intake queue: "), done.stdout
