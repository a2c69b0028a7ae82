"""The mapping benchmark still runs: ``bench/mapping/run.py --quick`` at a tiny size.

Figures are not asserted (they depend on the machine and its load); what is asserted is
that crossdock and the hand-written function agreed on every ticket, and that both
figures and their ratio are printed, so the benchmark cannot rot unseen.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "mapping" / "run.py"

ROWS = [
    "crossdock mapping",
    "hand-written Python",
    "ratio crossdock/hand-written",
    "crossdock per message",
]


def test_bench_mapping_quick_checks_equality_and_prints_both_figures() -> None:
    command = [sys.executable, str(RUN), "--quick", "--rounds", "1", "--per-round", "1"]
    done = subprocess.run(
        [*command, "--batch", "50", "--tickets", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equality check: passed, identical output on all 200 tickets" in done.stdout
    table = done.stdout[done.stdout.index("measurement (median per message)") :]
    for row in ROWS:
        assert re.search(rf"^{re.escape(row)} +[0-9.,]+", table, re.MULTILINE), (
            f"missing row {row!r} in:\n{done.stdout}"
        )
