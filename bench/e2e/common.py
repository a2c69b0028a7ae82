"""What the three pipelines share: the order body, the mapping, ports and processes.

The mapping is written once as crossdock configuration (`MAPPING`) and twice by hand: in
Python for the naive pipeline (`map_order`) and in JavaScript for Node-RED
(`nodered.MAPPING_JS`). The target keeps a sample of what it received and `run.py`
checks every sample against `map_order` of the body that was sent, so the three really
do the same work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOOK_PATH = "/hooks/shop"
TARGET_PATH = "/orders"
SAMPLE_EVERY = 250  # the target keeps the body of every 250th message of a phase

TIERS = ("gold", "silver", "bronze")
STATUSES = ("paid", "pending", "refunded")
PRIORITY = {"gold": "high", "silver": "medium"}  # anything else: "low"
STATUS = {"paid": "confirmed", "pending": "open"}  # anything else passes unchanged

# The same mapping as crossdock configuration (docs/configuration.md, "Mappings").
MAPPING: dict[str, Any] = {
    "keep": ["bench", "order.id", "order.items"],
    "fields": {
        "reference": "order.number",
        "customer.email": {"from": "order.email", "required": True},
        "customer.name": "order.customer.name",
        "currency": {"value": "EUR"},
        "priority": {
            "from": "order.tier",
            "map": PRIORITY,
            "unmapped": "default",
            "default": "low",
        },
        "status": {"from": "order.status", "map": STATUS, "unmapped": "pass"},
    },
}

_NOTE = "Leave at the back door if nobody answers; the dog is friendly. "


def order(message_id: str, n: int, sent: float) -> dict[str, Any]:
    """The webhook body of order ``n``: about 1 KB of JSON."""
    return {
        "bench": {"id": message_id, "sent": sent},
        "order": {
            "id": n,
            "number": f"SO-{n:08d}",
            "email": f"customer{n % 5000}@example.com",
            "tier": TIERS[n % 3],
            "status": STATUSES[n % 3],
            "created_at": "2025-11-23T08:46:00Z",
            "customer": {
                "name": "Ada Lovelace",
                "phone": "+44 20 7946 0018",
                "address": {
                    "street": "12 St James's Square",
                    "city": "London",
                    "postcode": "SW1Y 4JH",
                    "country": "GB",
                },
            },
            "items": [
                {
                    "sku": f"SKU-{(n + k) % 977:05d}",
                    "name": "Widget, blue",
                    "qty": k + 1,
                    "price": "19.90",
                }
                for k in range(4)
            ],
            "shipping": {"method": "standard", "price": "4.95"},
            "notes": _NOTE * 4,
        },
    }


def map_order(body: dict[str, Any]) -> dict[str, Any]:
    """`MAPPING` in plain Python (the naive pipeline's work). KeyError: no email."""
    src = body["order"]
    email = src.get("email")
    if email is None:
        raise KeyError("order.email is required")
    customer = src.get("customer") or {}
    status = src.get("status")
    return {
        "bench": body["bench"],
        "order": {"id": src["id"], "items": src["items"]},
        "reference": src.get("number"),
        "customer": {"email": email, "name": customer.get("name")},
        "currency": "EUR",
        "priority": PRIORITY.get(src.get("tier"), "low"),  # type: ignore[arg-type]
        "status": STATUS.get(status, status),  # type: ignore[arg-type]
    }


def sequence_of(message_id: str) -> int:
    """The ``n`` of an id made by the load generator (``<phase>-<n>``)."""
    return int(message_id.rsplit("-", 1)[1])


# -- ports and processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The environment for the processes started: no proxies, loopback only."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Poll ``url`` until it answers 200; seconds it took. RuntimeError if it never does."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before ready")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found = [pid]
    for parent in found:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    found += [int(c) for c in children.read().split()]
    return found


def peak_rss_mib(pids: Sequence[int]) -> float:
    """Sum of the peak resident set sizes (VmHWM) of ``pids``, in MiB."""
    total_kib = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by ``pids`` (threads included), in seconds."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, from /proc/stat)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_average() -> float:
    """The machine's 1-minute load average (other work on it skews every figure)."""
    return os.getloadavg()[0]


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL (the whole process group) if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
