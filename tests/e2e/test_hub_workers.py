"""``crossdock run --workers 2``: two hub processes share the port and the store.

Webhooks (on fresh connections, so the kernel hands them to either process) are all
delivered, each once, per key in the order they were accepted; SIGTERM to the parent
stops both workers and the parent exits 0.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import aiohttp
from e2e_kit import (
    Arrival,
    HubProcess,
    Target,
    free_port,
    metric_value,
    post_hook,
    store_counts,
    wait_until,
    write_config,
)

KEYS = [f"w{i}" for i in range(6)]
PER_KEY = 30


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


async def test_workers(tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        {
            "store": {"path": "hub.db"},
            "server": {"port": port},
            "endpoints": {
                "feed": {"connector": "webhook"},
                "sink": {"connector": "http", "settings": {"base_url": target.url}},
            },
            "flows": {
                "stream": {"source": "feed", "key": "key", "targets": [{"endpoint": "sink"}]}
            },
        },
    )
    hub = make_hub(config, port, workers=2)
    await hub.start_ready()
    workers = await wait_until(
        lambda: len(hub.children()) == 2 and hub.children(), timeout=30, what="2 workers"
    )
    accepted: dict[str, list[str]] = {key: [] for key in KEYS}
    # a new connection per request: the kernel gives each one to either worker
    fresh = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=fresh) as session:

        async def sender(key: str) -> None:
            for n in range(PER_KEY):
                status, answer = await post_hook(session, hub.url, "feed", {"key": key, "n": n})
                assert status == 202, answer
                accepted[key].append(answer["ids"][0])

        await asyncio.gather(*(sender(key) for key in KEYS))
        total = sum(len(ids) for ids in accepted.values())
        await wait_until(
            lambda: len({a.message_id for a in target.arrivals}) >= total,
            timeout=60,
            what="every accepted message at the target",
        )
        # each worker counts the requests it accepted; scrapes land on either one
        counts = set()
        for _ in range(40):
            value = await metric_value(
                session, hub.url, 'crossdock_received_total{endpoint="feed"}'
            )
            counts.add(value)
            if len(counts) == 2:
                break
    print(f"workers {workers}: received counters seen on /metrics {sorted(counts)} of {total}")
    if len(counts) == 2:
        assert sum(c or 0 for c in counts) == total, "both workers accepted webhooks"

    firsts: dict[str, Arrival] = {}
    for arrival in target.arrivals:
        assert arrival.message_id not in firsts, "delivered once"
        firsts[arrival.message_id] = arrival
    for key, ids in accepted.items():
        order = [m for m in firsts if firsts[m].json()["key"] == key]
        assert order == ids, f"key {key}: arrivals not in the order accepted"
    assert store_counts(tmp_path / "hub.db") == {"delivered": total}

    code, seconds = await hub.stop()
    print(f"SIGTERM: exit {code} after {seconds:.2f}s")
    assert code == 0, hub.log_tail()
    assert not any(_alive(pid) for pid in workers), "both workers stopped"
    stopped = [e for e in hub.logs() if e.get("event") == "stopped"]
    assert len(stopped) == 2, "each worker shut down cleanly"
