"""Child process of the crash test: enqueue without pause until killed.

Usage: ``python crash_child.py STORE RUN TASKS``. Opens the store, prints ``ready``,
then runs ``TASKS`` concurrent tasks; task ``t`` owns the keys ``k{t}a`` and ``k{t}b`` and
enqueues to them in turn, one message at a time. After each ``enqueue`` has returned
(the commit is on disk) it prints ``KEY MESSAGE_ID`` and flushes, so every line the
parent reads names a message the store has acknowledged. Each key is written by one
task only, so the order of its lines is the order in which its messages were enqueued.
"""

from __future__ import annotations

import asyncio
import sys

from crossdock.bus import SqliteBackend
from crossdock.core.envelope import Message

PAD = "x" * 1000  # with the other fields, a body of about 1 KB of JSON


async def _produce(backend: SqliteBackend, run: int, task: int) -> None:
    keys = (f"k{task}a", f"k{task}b")
    n = 0
    while True:
        key = keys[n % 2]
        body = {"run": run, "task": task, "n": n, "pad": PAD}
        message = Message.new(
            flow="crash", source="crash-child", event_type="t.created", body=body, key=key
        )
        await backend.enqueue(message)
        sys.stdout.write(f"{key} {message.id}\n")
        sys.stdout.flush()
        n += 1


async def main(path: str, run: int, tasks: int) -> None:
    backend = await SqliteBackend.open(path)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.gather(*(_produce(backend, run, t) for t in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
