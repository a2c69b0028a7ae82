"""SIGKILL the hub again and again under a steady stream of webhooks; lose nothing.

Several senders (one per key) post numbered messages, each key's in sequence: the next
only after the previous one got its 202. A request that fails (refused, cut, 503) is sent
again with the same ``Idempotency-Key`` until it gets a 202, so a message the hub stored
but could not acknowledge before it died is recognised, not stored twice. Meanwhile the
test kills the hub (SIGKILL) at random moments and restarts it. After the last restart
every accepted message must reach the target, the first arrivals of each key in the order
the messages were accepted, and every repeated arrival with the Idempotency-Key of the
first.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from e2e_kit import (
    Arrival,
    HubProcess,
    Target,
    free_port,
    integrity_check,
    post_hook,
    store_counts,
    wait_until,
    write_config,
)

KILLS = 25
KEYS = [f"key-{i}" for i in range(6)]
SEED = random.randrange(1 << 30)


@dataclass(frozen=True)
class Accepted:
    key: str
    n: int
    message_id: str
    duplicate: bool  # the 202 of a resend, for a message stored by an earlier attempt


def _config(folder: Path, port: int, target: Target) -> Path:
    return write_config(
        folder,
        {
            "store": {"path": "hub.db"},
            "server": {"port": port},
            "endpoints": {
                "feed": {
                    "connector": "webhook",
                    "settings": {"idempotency_header": "Idempotency-Key"},
                },
                "sink": {
                    "connector": "http",
                    "settings": {
                        "base_url": target.url,
                        "path": "/records/{key}",
                        "timeout": "2s",
                        "concurrency": 8,
                    },
                },
            },
            "flows": {
                "stream": {
                    "source": "feed",
                    "key": "key",
                    "targets": [
                        {
                            "endpoint": "sink",
                            "lease": "3s",
                            "retry": {
                                "initial_delay": "0.1s",
                                "max_delay": "1s",
                                "max_attempts": 1000,
                                "max_age": "1h",
                            },
                        }
                    ],
                }
            },
        },
    )


class Senders:
    """One sender per key; `stop` lets each finish the message it is on."""

    def __init__(self, session: aiohttp.ClientSession, hub: HubProcess) -> None:
        self.session = session
        self.hub = hub
        self.accepted: list[Accepted] = []
        self.failed_requests = 0
        self.statuses: dict[int, int] = defaultdict(int)
        self._stopping = asyncio.Event()
        self._tasks = [asyncio.create_task(self._send(key)) for key in KEYS]

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def _send(self, key: str) -> None:
        n = 0
        while not self._stopping.is_set():
            await self._deliver_one(key, n)
            n += 1

    async def _deliver_one(self, key: str, n: int) -> None:
        body = {"key": key, "n": n}
        headers = {"Idempotency-Key": f"{key}/{n}"}
        while True:
            try:
                status, answer = await post_hook(
                    self.session, self.hub.url, "feed", body, headers, timeout=5
                )
            except (aiohttp.ClientError, TimeoutError):
                status, answer = 0, None
            self.statuses[status] += 1
            if status == 202:
                [message_id] = answer["ids"]
                self.accepted.append(Accepted(key, n, message_id, answer["duplicate"]))
                return
            self.failed_requests += 1
            await asyncio.sleep(0.05)  # the hub is down or restarting: try again soon


@pytest.mark.slow
async def test_crash(
    tmp_path: Path,
    target: Target,
    session: aiohttp.ClientSession,
    make_hub: Callable[..., HubProcess],
) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    port = free_port()
    hub = make_hub(_config(tmp_path, port, target), port)
    await hub.start_ready()
    senders = Senders(session, hub)
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.1, 1.5))  # a random moment: this is the load
            await hub.kill()
            await hub.start_ready()
    finally:
        await senders.stop()
    killed_for = time.monotonic() - started
    accepted = senders.accepted
    by_id = {a.message_id: a for a in accepted}

    def arrived() -> set[str]:
        return {a.message_id for a in target.arrivals}

    await wait_until(
        lambda: set(by_id) <= arrived(),
        timeout=120,  # the processor's intake leases (30s) of killed runs must expire first
        what="every accepted message at the target",
    )
    await wait_until(
        lambda: store_counts(tmp_path / "hub.db") == {"delivered": len(by_id)},
        timeout=30,
        what="every message delivered in the journal",
    )
    drained_in = time.monotonic() - started - killed_for
    code, _seconds = await hub.stop()
    assert code == 0, hub.log_tail()

    firsts: dict[str, Arrival] = {}
    duplicated = 0
    for arrival in target.arrivals:
        first = firsts.setdefault(arrival.message_id, arrival)
        if first is not arrival:
            duplicated += 1
            assert arrival.idempotency_key == first.idempotency_key
    lost = len(set(by_id) - set(firsts))
    assert set(firsts) <= set(by_id), "only accepted messages reach the target"
    out_of_order = 0
    for key in KEYS:
        accepted_order = [a.message_id for a in accepted if a.key == key]
        first_order = [m for m in firsts if by_id[m].key == key]
        out_of_order += sum(1 for x, y in zip(accepted_order, first_order, strict=False) if x != y)
        assert [a.n for a in accepted if a.key == key] == list(range(len(accepted_order)))
    for message_id, arrival in firsts.items():
        entry = by_id[message_id]
        assert arrival.json() == {"key": entry.key, "n": entry.n}
        assert arrival.idempotency_key == f"{message_id}:sink"
    resent = sum(1 for a in accepted if a.duplicate)
    print(
        f"accepted={len(by_id)} delivered={len(set(firsts))} lost={lost} "
        f"duplicated={duplicated} out_of_order={out_of_order}"
    )
    print(
        f"kills={KILLS} seed={SEED} hub_starts={hub.starts} failed_requests="
        f"{senders.failed_requests} statuses={dict(senders.statuses)} "
        f"resends_deduplicated={resent} kill_phase={killed_for:.0f}s drain={drained_in:.0f}s"
    )
    assert lost == 0
    assert out_of_order == 0
    assert len({a.message_id for a in accepted}) == len(accepted), "one id per (key, n)"
    assert integrity_check(tmp_path / "hub.db") == "ok"
