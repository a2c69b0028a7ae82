"""The load generator: POSTs ~1 KB JSON orders to a webhook URL, in a process of its own.

    python bench/e2e/load.py --url URL --phase T --mode closed --concurrency 32 \
        --duration 13 --out F
    python bench/e2e/load.py --url URL --phase R --mode rate --rate 500 --duration 12 --out F

``closed``: ``concurrency`` senders, each sending its next order as soon as the previous
one is answered, for ``duration`` seconds (the throughput phase). ``rate``: one order
every 1/``rate`` seconds on a fixed schedule, whatever the answers (the latency phase;
an open loop, so a slow system cannot slow the sender down).

Each body carries ``bench.id`` (``<phase>-<n>``) and ``bench.sent``. The output file holds,
in ``time.monotonic()`` seconds: the start, and for each answered request its id, when it
was sent and when its answer arrived, with the status counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import orjson
import uvloop
from common import order

HEADERS = {"Content-Type": "application/json"}


@dataclass
class Record:
    start: float = 0.0
    end: float = 0.0
    answers: list[tuple[str, float, float]] = field(default_factory=list)  # id, sent, 202
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


async def send_one(
    session: aiohttp.ClientSession, url: str, message_id: str, n: int, record: Record
) -> None:
    sent = time.monotonic()
    body = orjson.dumps(order(message_id, n, sent))
    try:
        async with session.post(url, data=body, headers=HEADERS) as answer:
            await answer.read()
            answered = time.monotonic()
            record.statuses[str(answer.status)] += 1
            if answer.status == 202:
                record.answers.append((message_id, sent, answered))
    except (aiohttp.ClientError, TimeoutError) as exc:
        record.errors[type(exc).__name__] += 1


async def closed(url: str, phase: str, concurrency: int, duration: float) -> Record:
    record = Record(start=time.monotonic())
    deadline = record.start + duration
    numbers = itertools.count()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender() -> None:
            while time.monotonic() < deadline:
                n = next(numbers)
                await send_one(session, url, f"{phase}-{n}", n, record)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    record.end = time.monotonic()
    return record


async def open_loop(url: str, phase: str, rate: float, duration: float) -> Record:
    record = Record(start=time.monotonic())
    total = int(rate * duration)
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for n in range(total):
            delay = record.start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send_one(session, url, f"{phase}-{n}", n, record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(set(tasks))
    record.end = time.monotonic()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--phase", required=True, help="prefix of the message ids")
    parser.add_argument("--mode", choices=("closed", "rate"), required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.mode == "closed":
        record = uvloop.run(closed(args.url, args.phase, args.concurrency, args.duration))
    else:
        record = uvloop.run(open_loop(args.url, args.phase, args.rate, args.duration))
    with open(args.out, "wb") as out:
        out.write(
            orjson.dumps(
                {
                    "start": record.start,
                    "end": record.end,
                    "answers": record.answers,
                    "statuses": record.statuses,
                    "errors": record.errors,
                }
            )
        )


if __name__ == "__main__":
    main()
