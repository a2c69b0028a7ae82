"""Workers of ``crossdock run --workers N`` whose parent was killed (SIGKILL: it could
forward nothing) shut down cleanly, as on SIGTERM, instead of serving on as orphans that
hold the port and the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp
from e2e_kit import (
    Arrival,
    HubProcess,
    Reply,
    Target,
    alive,
    created,
    feed_config,
    free_port,
    killed_at_the_end,
    post_hook,
    store_counts,
    wait_until,
)


async def test_workers_shut_down_when_their_parent_is_killed(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    """SIGKILL to the parent only: both workers shut down cleanly (nothing accepted is
    lost), the port and the store are free again, and a new hub delivers what is left."""
    port = free_port()
    hub = make_hub(feed_config(tmp_path, port, target.url), port, workers=2)
    hold = asyncio.Event()

    async def slow(arrival: Arrival) -> Reply:
        await hold.wait()  # deliveries in flight while the parent dies
        return created(arrival)

    target.respond = slow
    await hub.start_ready()
    workers = await wait_until(
        lambda: len(hub.children()) == 2 and hub.children(), timeout=30, what="2 workers"
    )
    with killed_at_the_end(workers):
        accepted = []
        fresh = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=fresh) as session:
            for n in range(20):
                status, answer = await post_hook(session, hub.url, "feed", {"n": n})
                assert status == 202, answer
                accepted += answer["ids"]
        await wait_until(lambda: target.arrivals, timeout=30, what="a delivery in flight")
        await hub.kill()
        await wait_until(
            lambda: not any(alive(pid) for pid in workers),
            timeout=30,
            what="both workers to stop after their parent died",
        )
        hold.set()
        stopped = [e for e in hub.logs() if e.get("event") == "stopped"]
        assert len(stopped) == 2, "each worker shut down cleanly"
        assert sum(store_counts(tmp_path / "hub.db").values()) == len(accepted)

        again = make_hub(hub.config, hub.port, workers=2)
        await again.start_ready()
        await wait_until(
            lambda: store_counts(tmp_path / "hub.db") == {"delivered": len(accepted)},
            timeout=60,
            what="every accepted message delivered",
        )
        code, _ = await again.stop()
        assert code == 0, again.log_tail()
    assert {a.message_id for a in target.arrivals} == set(accepted)
