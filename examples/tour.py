"""A tour of crossdock's core on the embedded store (run it with ``scripts/tour``).

It validates ``examples/orders.yaml``, then plays the parts that ``crossdock run`` plays
(intake, processor, delivery worker) by hand through the public `Backend` API, so that
each queue guarantee can be seen: per-key lanes, parking that holds only its own lane,
replay, and the journal. Finally it shows the result with the operator CLI.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from crossdock.bus import INTAKE, Event, Forward, Selector, SqliteBackend, Step
from crossdock.config import load_config
from crossdock.core.envelope import Message

HERE = Path(__file__).parent
CONFIG = HERE / "orders.yaml"


def cli(*args: str) -> None:
    print(f"\n$ crossdock {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "crossdock", *args], check=True)


async def tour(store: Path) -> str:
    backend = await SqliteBackend.open(store)
    try:
        # Intake: three orders for customer 7, one for customer 9 (the ordering key).
        for n, customer in enumerate(["7", "7", "9", "7"], start=1):
            order = {"order": {"id": f"A-{n}", "customer": customer, "total": 10 * n}}
            msg = Message.new(
                flow="orders", source="shop", event_type="order.created", body=order, key=customer
            )
            await backend.enqueue(msg)
        # Processor: route each order to the ERP with a mapped body.
        # Intake has lanes too: one message per customer at a time, so claim until empty.
        while batch := await backend.claim(INTAKE, worker="tour", limit=10):
            for d in batch:
                order = d.payload["order"]
                mapped = {"ref": order["id"], "amount": order["total"]}
                route = Forward("erp", mapped, [Event(Step.MAPPED, payload=mapped)])
                routed = Event(Step.ROUTED, {"targets": ["erp"]})
                await backend.ack(d, events=[routed], forward=[route])
        # Delivery: the ERP refuses the first order of customer 7; its lane waits, 9 goes on.
        first = await backend.claim("erp", worker="tour", limit=10)
        print("first claim hands out one message per customer:", [d.payload for d in first])
        for d in first:
            if d.payload["ref"] == "A-1":
                error = {"error_class": "PermanentError", "error": "422 unknown customer"}
                await backend.park(d, events=[Event(Step.PARKED, error)])
                parked = d.message.id
            else:
                await backend.ack(d, events=[Event(Step.DELIVERED, {"target_id": "erp-1"})])
        print("while A-1 is parked, customer 7 waits:", await backend.claim("erp", worker="tour"))
        # An operator fixes the customer in the ERP and replays; the lane drains in order.
        await backend.replay(Selector(message_id=parked))
        while batch := await backend.claim("erp", worker="tour", limit=10):
            for d in batch:
                print("delivered", d.payload["ref"])
                await backend.ack(d, events=[Event(Step.DELIVERED, {"target_id": "erp-2"})])
        return parked
    finally:
        await backend.close()


def main() -> None:
    cli("validate", str(CONFIG))
    store = Path(load_config(CONFIG, resolve_secrets=False).store.path)
    for suffix in ("", "-wal", "-shm"):  # start the tour from an empty store
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    parked = asyncio.run(tour(store))
    cli("status", "--store", str(store))
    cli("messages", "list", "--store", str(store))
    cli("messages", "show", parked, "--store", str(store))


if __name__ == "__main__":
    main()
