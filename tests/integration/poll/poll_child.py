"""Child process of the poll crash test: poll without pause until killed.

`poll_forever` is the target of a process started from a forkserver that has imported
crossdock already (a fresh interpreter per kill would spend seconds importing). It loads
the configuration, opens its store, sets ``ready``, then calls `Poller.poll_once` for
endpoint ``desk`` again and again, counting each poll that returned (its commit is on
disk) in ``polls`` and each that raised in ``failures`` (shared integers without a lock:
only one child runs at a time, and a lock would stay taken by a child killed holding it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import structlog

from crossdock.bus import SqliteBackend
from crossdock.config import load_config
from crossdock.runtime.poller import Poller


async def _loop(path: str, ready: Any, polls: Any, failures: Any) -> None:
    config = load_config(path, env={})
    backend = await SqliteBackend.open(config.store.path)
    poller = Poller(backend, config, "desk")
    ready.set()
    while True:
        try:
            await poller.poll_once()
        except Exception:
            failures.value += 1
        else:
            polls.value += 1


def poll_forever(path: str, ready: Any, polls: Any, failures: Any) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    asyncio.run(_loop(path, ready, polls, failures))
