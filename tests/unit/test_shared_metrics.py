"""Metrics shared by the worker processes of one hub (``Metrics(shared=FOLDER)``): a
scrape in any of them shows every worker's counts, those of ended workers included, and a
paused endpoint while any live worker has it paused. Each runs in a process of its own,
as the workers do (a worker's file is named after its pid)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import sys
    from crossdock.observability.metrics import Metrics
    m = Metrics(shared=sys.argv[1])
    for _ in range(int(sys.argv[2])):
        m.child(m.received, "shop").inc()
    m.intake_seconds.observe(0.002)
    m.endpoint_paused.labels("erp").set(int(sys.argv[3]))
    m.publish()
    """
)

SCRAPE = textwrap.dedent(
    """
    import sys
    from crossdock.bus.base import QueueStats
    from crossdock.observability.metrics import Metrics, forget_process
    for pid in sys.argv[2:]:
        forget_process(sys.argv[1], int(pid))
    m = Metrics(shared=sys.argv[1])
    stats = QueueStats("orders", "erp", 4, in_flight=1, retrying=0, parked=1, oldest_age=2.5)
    m.refresh_queues([stats])
    sys.stdout.write(m.render().decode())
    """
)


def _run(script: str, *args: object) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=True
    )
    return done.stdout


def _samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def _worker(folder: Path, received: int, paused: int) -> int:
    """Run one worker process; its pid."""
    script = WORKER + "print(__import__('os').getpid())"
    args = [sys.executable, "-c", script, str(folder), str(received), str(paused)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return int(out)


def test_a_scrape_in_any_worker_shows_the_whole_hub(tmp_path: Path) -> None:
    _worker(tmp_path, 3, paused=0)
    _worker(tmp_path, 4, paused=0)
    seen = _samples(_run(SCRAPE, tmp_path))
    assert seen['crossdock_received_total{endpoint="shop"}'] == 7
    assert seen["crossdock_intake_seconds_count"] == 2
    assert seen['crossdock_endpoint_paused{endpoint="erp"}'] == 0
    # the queue gauges: this process's own reading of the shared store, not summed
    assert seen['crossdock_queue_depth{destination="erp",flow="orders"}'] == 4
    assert seen['crossdock_queue_parked{destination="erp",flow="orders"}'] == 1


def test_a_paused_endpoint_shows_while_a_live_worker_has_it_paused(tmp_path: Path) -> None:
    _worker(tmp_path, 1, paused=0)
    pausing = _worker(tmp_path, 1, paused=1)
    seen = _samples(_run(SCRAPE, tmp_path))
    assert seen['crossdock_endpoint_paused{endpoint="erp"}'] == 1
    # that worker ended: its pause goes with it, its counts stay
    seen = _samples(_run(SCRAPE, tmp_path, pausing))
    assert seen.get('crossdock_endpoint_paused{endpoint="erp"}', 0) == 0
    assert seen['crossdock_received_total{endpoint="shop"}'] == 2


def test_a_value_that_is_not_a_number_does_not_break_the_scrape(tmp_path: Path) -> None:
    _worker(tmp_path, 2, paused=0)
    (tmp_path / "999999.json").write_text(
        '[["crossdock_received", "h", "counter",'
        ' [["crossdock_received_total", {"endpoint": "shop"}, null]]]]'
    )
    seen = _samples(_run(SCRAPE, tmp_path))
    assert seen['crossdock_received_total{endpoint="shop"}'] == 2
