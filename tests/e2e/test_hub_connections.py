"""Bounds on clients, from outside: `server.max_connections` answers 503 beyond it, and
the hub raises its open-files limit to fit that many connections."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from pathlib import Path

import aiohttp
from e2e_kit import HOST, HubProcess, Target, feed_config, free_port, post_hook, wait_until


async def test_requests_beyond_max_connections_are_answered_503(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    port = free_port()
    hub = make_hub(feed_config(tmp_path, port, target.url, server={"max_connections": 4}), port)
    await hub.start_ready()
    idle = [await asyncio.open_connection(HOST, port) for _ in range(4)]  # they send nothing
    try:
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{hub.url}/hooks/feed", json={"n": 1}) as reply:
                assert reply.status == 503
                assert reply.headers["Retry-After"] == "5"  # server.retry_after's default
                assert (await reply.json())["error"] == "too_busy"
            async with session.get(f"{hub.url}/healthz") as reply:
                assert reply.status == 200  # probes are answered even then
            for _, writer in idle:
                writer.close()
            idle = []

            async def accepted() -> bool:
                status, _ = await post_hook(session, hub.url, "feed", {"n": 2})
                return status == 202

            await wait_until(accepted, timeout=10, what="a 202 once the idle clients left")
        await wait_until(lambda: len(target.arrivals) == 1, timeout=10, what="the delivery")
        assert target.arrivals[0].json() == {"n": 2}
    finally:
        for _, writer in idle:
            writer.close()
    code, _ = await hub.stop()
    assert code == 0, hub.log_tail()


async def test_the_hub_raises_its_open_files_limit_to_fit_its_connections(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3000 + 256  # max_connections + the hub's spare files (targets add theirs)
    low = min(1024, soft)
    port = free_port()
    config = feed_config(tmp_path, port, target.url, server={"max_connections": 3000})
    hub = make_hub(config, port)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))  # the hub inherits it
    try:
        hub.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    await hub.wait_ready()
    raised = _open_files_limit(hub.pid)
    print(f"open files: started with {low}, hub raised it to {raised} (hard {hard})")
    assert raised >= min(wanted, hard)
    code, _ = await hub.stop()
    assert code == 0, hub.log_tail()


def _open_files_limit(pid: int) -> int:
    """The soft limit on open files of process ``pid``."""
    limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    return int(next(x for x in limits if x.startswith("Max open files")).split()[3])
