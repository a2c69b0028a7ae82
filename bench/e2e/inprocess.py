"""crossdock's own CPU per message, stage by stage, without HTTP and in one process.

    python bench/e2e/inprocess.py [--orders 10000] [--rounds 2]

The machine's noise moves run.py's figures more than many changes do; this measures
what crossdock itself spends, thread by thread, on run.py's flow and orders:

- intake: the webhook ASGI app called directly by 32 concurrent senders (no sockets),
  until every order is stored;
- processor: draining the intake queue (only when messages went there);
- delivery: a delivery worker draining the target's queue into a target that answers
  at once (no HTTP), acknowledging and journaling as it does for real.

Three ways in the same run, on the same orders:

- **handed over**: as ``crossdock run`` does: the delivery worker runs while the orders
  come, each message is stored with its delivery, leased to the worker in the same
  commit and handed to it (one stage, intake and delivery together);
- **claimed**: the same, but the worker is only told that deliveries were stored and
  claims them (what happens to a delivery whose lane was busy, or that came while the
  worker had no room; and what crossdock did before deliveries were handed over);
- **via the intake queue**: stored for intake, then routed by the processor, then
  delivered, one stage after the other (what happens to a message whose key waits in
  intake).

Prints CPU µs per message per stage and thread (event loop, writer, other) from
``/proc/self/task``, the medians over the rounds, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

import orjson
import uvloop
import yaml
from common import MAPPING, order

from crossdock.bus import INTAKE, Delivery, SqliteBackend
from crossdock.config import load_config
from crossdock.connectors.base import Receipt
from crossdock.core.limits import CircuitBreaker
from crossdock.intake import create_intake_app
from crossdock.observability.metrics import Metrics
from crossdock.runtime.delivery import DeliveryWorker
from crossdock.runtime.observe import MetricsObserver
from crossdock.runtime.plan import Plan
from crossdock.runtime.processor import Processor

SENDERS = 32
Figures = dict[str, float]  # thread kind -> CPU µs per message


class AnsweringTarget:
    """A sink that encodes the body, as the HTTP sink does, and answers 201 at once."""

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def deliver(self, delivery: Delivery) -> Receipt:
        orjson.dumps(delivery.payload)
        return Receipt(status=201)


class ThreadClock:
    """CPU seconds per thread kind, read from /proc/self/task."""

    def __init__(self, writer: threading.Thread) -> None:
        self.kinds = {threading.get_native_id(): "event loop", writer.native_id: "writer"}
        self.tick = os.sysconf("SC_CLK_TCK")

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            kind = self.kinds.get(int(tid), "other")
            out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / self.tick
        return out

    def per_message(self, before: dict[str, float], orders: int) -> Figures:
        after = self.read()
        return {k: 1e6 * (after[k] - before.get(k, 0.0)) / orders for k in after}


def config_file(folder: Path) -> Path:
    document = {
        "version": 1,
        "store": {"path": str(folder / "crossdock.db")},
        "endpoints": {
            "shop": {"connector": "webhook"},
            "target": {
                "connector": "http",
                "settings": {"base_url": "http://127.0.0.1:9", "path": "/o", "concurrency": 128},
            },
        },
        "flows": {
            "orders": {
                "source": "shop",
                "key": "order.id",
                "targets": [{"endpoint": "target", "mapping": MAPPING}],
            }
        },
    }
    path = folder / "crossdock.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def post(app: Any, body: bytes) -> None:
    sent: list[dict[str, Any]] = []
    parts = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/hooks/shop",
        "raw_path": b"/hooks/shop",
        "query_string": b"",
        "headers": headers,
    }
    await app(scope, receive, send)
    if sent[0]["status"] != 202:
        raise RuntimeError(f"intake answered {sent}")


async def drained(backend: SqliteBackend, destination: str) -> None:
    """Return once ``destination`` holds nothing (checked every 0.2 s)."""
    while True:
        stats = await backend.stats()
        if not any(s.depth for s in stats if s.destination == destination):
            return
        await asyncio.sleep(0.2)


HANDED, CLAIMED, VIA_INTAKE = "handed over", "claimed", "via the intake queue"


async def one_round(orders: int, way: str) -> dict[str, Figures]:
    with tempfile.TemporaryDirectory(prefix="crossdock-inprocess-", dir="/var/tmp") as folder:
        config = load_config(config_file(Path(folder)))
        plan = Plan.from_config(config)
        backend = await SqliteBackend.open(config.store.path, mask=config.journal.mask)
        metrics = Metrics()
        processor = Processor(backend, plan, observer=MetricsObserver(metrics))
        router = None if way == VIA_INTAKE else processor
        app = create_intake_app(config, backend, metrics=metrics, router=router)
        await app.start()
        clock = ThreadClock(backend._writer._thread)  # the writer's thread, for its CPU
        bodies = iter([orjson.dumps(order(f"m{n}", n, 0.0)) for n in range(orders)])
        stages: dict[str, Figures] = {}
        worker = DeliveryWorker(
            backend,
            plan,
            "target",
            AnsweringTarget(),
            concurrency=128,
            breaker=CircuitBreaker(),
            observer=MetricsObserver(metrics),
        )

        async def sender() -> None:
            for body in bodies:
                await post(app, body)

        if way == CLAIMED:  # the worker is told of new deliveries, and claims them
            backend.hand_to = lambda destination, taker: None  # type: ignore[method-assign]
        if way in (HANDED, CLAIMED):  # the worker runs while the orders come
            before = clock.read()
            running = asyncio.create_task(worker.run())
            await asyncio.gather(*(sender() for _ in range(SENDERS)))
            await drained(backend, "target")
            worker.stop()
            await running
            await worker.drain(10)
            stages["intake+delivery"] = clock.per_message(before, orders)
        else:
            before = clock.read()
            await asyncio.gather(*(sender() for _ in range(SENDERS)))
            stages["intake"] = clock.per_message(before, orders)
            before = clock.read()
            running = asyncio.create_task(processor.run())
            await drained(backend, INTAKE)
            processor.stop()
            await running
            stages["processor"] = clock.per_message(before, orders)
            before = clock.read()
            running = asyncio.create_task(worker.run())
            await drained(backend, "target")
            worker.stop()
            await running
            stages["delivery"] = clock.per_message(before, orders)
        await app.close()
        await backend.close()
        return stages


def total(stages: dict[str, Figures]) -> float:
    return sum(sum(f.values()) for f in stages.values())


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Figures]]] = {HANDED: [], CLAIMED: [], VIA_INTAKE: []}
    try:
        for _ in range(args.rounds):
            for way in results:
                results[way].append(await one_round(args.orders, way))
    except Exception:  # end here: the round's worker and store are still running
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    print(f"{args.orders:,} orders, {args.rounds} rounds, medians; CPU µs per message")
    print(f"{'way':22} {'stage':15} {'event loop':>10} {'writer':>7} {'other':>6} {'total':>6}")
    totals = {}
    for way, rounds in results.items():
        for stage in rounds[0]:
            row = {
                kind: statistics.median(r[stage].get(kind, 0.0) for r in rounds)
                for kind in ("event loop", "writer", "other")
            }
            print(
                f"{way:22} {stage:15} {row['event loop']:10.0f} {row['writer']:7.0f}"
                f" {row['other']:6.0f} {sum(row.values()):6.0f}"
            )
        totals[way] = statistics.median(total(r) for r in rounds)
        print(f"{way:22} {'all':15} {'':10} {'':7} {'':6} {totals[way]:6.0f}")
    for way in (CLAIMED, VIA_INTAKE):
        print(f"{HANDED} / {way}: {totals[HANDED] / totals[way]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
