"""The walkthrough: a stand-in ERP, the hub, five shop orders, and what the journal says.

Run it with ``scripts/demo``. It starts examples/erp_target.py and
``crossdock run examples/orders.yaml`` as real processes, sends the orders as webhooks,
waits until the ERP has them all, prints the operator view, and stops the hub with
SIGTERM (a clean shutdown).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CONFIG = HERE / "orders.yaml"
STORE = HERE / "data" / "crossdock.db"
HOOK = "http://127.0.0.1:8080/hooks/shop"

ORDERS = [
    {"id": "A-1", "customer": "c7", "status": "paid", "total": 40, "shipping": "express"},
    {"id": "A-2", "customer": "c7", "status": "paid", "total": 15, "card_number": "4111 1111"},
    {"id": "A-3", "customer": "c9", "status": "paid", "total": 99, "shipping": "drone"},
    {"id": "A-4", "customer": "c9", "status": "cart", "total": 5},
    {"id": "A-5", "customer": "c7", "status": "paid", "total": 7},
]


def wait_until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"demo: gave up waiting for {what}")


def ready() -> bool:
    with urllib.request.urlopen("http://127.0.0.1:8080/readyz", timeout=1) as answer:
        return bool(answer.status == 200)


def send(order: dict[str, object], delivery: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        HOOK,
        data=json.dumps({"order": order}).encode(),
        headers={"Content-Type": "application/json", "X-Shop-Delivery": delivery},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, json.loads(answer.read())


def cli(*args: str) -> None:
    print(f"\n$ crossdock {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "crossdock", *args], check=True)


def main() -> None:
    for suffix in ("", "-wal", "-shm"):  # start from an empty store
        Path(f"{STORE}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "ERP_TOKEN": os.environ.get("ERP_TOKEN", "demo-token")}
    erp = subprocess.Popen([sys.executable, str(HERE / "erp_target.py")])
    hub_log = open(HERE / "data" / "hub.log", "w")  # noqa: SIM115 - lives as long as the hub
    hub = subprocess.Popen(
        [sys.executable, "-m", "crossdock", "run", str(CONFIG)], env=env, stderr=hub_log
    )
    try:
        wait_until(ready, "the hub to be ready")
        print("\nsending five shop orders (A-4 is unpaid: the flow filters it out)")
        ids = {}
        for n, order in enumerate(ORDERS):
            status, answer = send(order, f"delivery-{n}")
            ids[str(order["id"])] = answer["ids"][0]
            print(f"  {order['id']}: {status} {answer}")
        status, answer = send(ORDERS[0], "delivery-0")
        print(f"  A-1 sent again with the same delivery id: {status} {answer}")
        wait_until(lambda: _settled() >= 4, "the ERP to answer for every paid order")
        cli("status", "--store", str(STORE))
        cli("messages", "list", "--store", str(STORE))
        cli("messages", "show", ids["A-1"], "--store", str(STORE))
        print("\nA-3 was refused by the ERP (422): it is parked, and holds back only the")
        print("later orders of customer c9. After fixing the cause: crossdock replay ID")
        cli("messages", "show", ids["A-3"], "--store", str(STORE))
    finally:
        hub.send_signal(signal.SIGTERM)
        print(f"\nhub stopped with exit status {hub.wait(timeout=30)} (logs: {hub_log.name})")
        erp.terminate()
        erp.wait()


def _settled() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "crossdock", "messages", "list", "--store", str(STORE), "--json"],
        capture_output=True,
        check=True,
    ).stdout
    return sum(m["status"] in ("delivered", "parked") for m in json.loads(out))


if __name__ == "__main__":
    (HERE / "data").mkdir(exist_ok=True)
    main()
