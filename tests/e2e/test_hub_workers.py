"""``crossdock run --workers 2``: two hub processes share the port and the store.

Webhooks (on fresh connections, so the kernel hands them to either process) are all
delivered, each once, per key in the order they were accepted; SIGTERM to the parent
stops both workers and the parent exits 0. Kept-alive connections opened together are
spread over both workers (the kernel balances them over one listening socket each).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp
from e2e_kit import (
    Arrival,
    HubProcess,
    Target,
    alive,
    feed_config,
    free_port,
    metric_value,
    post_hook,
    store_counts,
    wait_until,
)

KEYS = [f"w{i}" for i in range(6)]
PER_KEY = 30


def _two_workers(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess], flow: dict[str, str]
) -> HubProcess:
    """`crossdock run --workers 2`: webhook endpoint ``feed``, one flow to the target."""
    port = free_port()
    config = feed_config(tmp_path, port, target.url, flow=flow)
    return make_hub(config, port, workers=2)


async def test_workers(tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]) -> None:
    hub = _two_workers(tmp_path, target, make_hub, {"key": "key"})
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
        received = 'crossdock_received_total{endpoint="feed"}'
        delivered = 'crossdock_delivered_total{flow="stream",target="sink"}'

        async def scrapes() -> set[tuple[float | None, float | None]]:
            """(received, delivered) as a dozen scrapes, each answered by either worker."""
            return {
                (
                    await metric_value(session, hub.url, received),
                    await metric_value(session, hub.url, delivered),
                )
                for _ in range(12)
            }

        async def whole() -> bool:
            return await scrapes() == {(total, total)}

        # each worker shows the whole hub's counts (the other's within a second)
        await wait_until(whole, timeout=15, what="every scrape showing the whole hub")
        # a worker killed and replaced: what it counted still counts
        os.kill(workers[0], signal.SIGKILL)
        await wait_until(
            lambda: len(hub.children()) == 2 and workers[0] not in hub.children(),
            timeout=30,
            what="the killed worker replaced",
        )
        after = await scrapes()
        print(f"workers {workers}: (received, delivered) after one was killed {after} of {total}")
        assert after == {(total, total)}, "counters never go back"
        workers = hub.children()

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
    assert not any(alive(pid) for pid in workers), "both workers stopped"
    stopped = [e for e in hub.logs() if e.get("event") == "stopped"]
    assert len(stopped) == 2, "each worker shut down cleanly"


async def test_workers_share_keepalive_connections(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    """Connections opened together, then kept alive (as a busy sender does), are spread
    over both workers: each has its own listening socket on the port."""
    hub = _two_workers(tmp_path, target, make_hub, {})
    await hub.start_ready()
    workers = await wait_until(
        lambda: len(hub.children()) == 2 and hub.children(), timeout=30, what="2 workers"
    )
    connections = 32
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(connections)
    ]
    try:

        async def sender(session: aiohttp.ClientSession, n: int) -> None:
            for i in range(3):
                status, answer = await post_hook(session, hub.url, "feed", {"n": n, "i": i})
                assert status == 202, answer

        await asyncio.gather(*(sender(s, n) for n, s in enumerate(sessions)))
        port = int(hub.url.rsplit(":", 1)[1])
        held = {pid: _connections_held(pid, port) for pid in workers}
    finally:
        for session in sessions:
            await session.close()
    print(f"kept-alive connections per worker: {held}")
    assert sum(held.values()) == connections
    assert min(held.values()) >= connections // 5, f"one worker took almost all: {held}"
    code, _ = await hub.stop()
    assert code == 0, hub.log_tail()


def _connections_held(pid: int, port: int) -> int:
    """Established TCP connections on local ``port`` whose socket process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        link = os.readlink(fd) if fd.is_symlink() else ""
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:
            held += 1
    return held


async def test_a_second_hub_on_the_same_port_is_refused(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    """Sockets with SO_REUSEPORT could share the port with another hub still running there;
    the second one must refuse to start instead."""
    first = _two_workers(tmp_path / "first", target, make_hub, {})
    await first.start_ready()
    second = make_hub(first.config, first.port, workers=2)
    second.start()
    code = await second.wait_exit(30)
    assert code != 0
    assert "cannot listen" in second.log_tail(), second.log_tail()
    code, _ = await first.stop()
    assert code == 0, first.log_tail()


async def test_counts_of_a_killed_hub_are_not_added_to_the_next(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    """A hub killed outright leaves its workers' metrics files beside the store; the next
    hub on that store starts counting from zero, and removes the folder when it stops."""
    first = _two_workers(tmp_path, target, make_hub, {})
    await first.start_ready()
    workers = await wait_until(
        lambda: len(first.children()) == 2 and first.children(), timeout=30, what="2 workers"
    )
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            status, answer = await post_hook(session, first.url, "feed", {"n": n})
            assert status == 202, answer
    await wait_until(lambda: len(target.arrivals) >= 5, timeout=30, what="5 at the target")
    await first.kill()  # the parent only; its workers stop as it is gone
    await wait_until(
        lambda: not any(alive(pid) for pid in workers), timeout=30, what="the workers gone"
    )
    folder = tmp_path / "hub.db.metrics"
    assert list(folder.glob("*.json")), "the killed hub's files are left behind"

    second = make_hub(first.config, first.port, workers=2)
    await second.start_ready()
    received = 'crossdock_received_total{endpoint="feed"}'
    fresh = aiohttp.TCPConnector(force_close=True)  # each scrape reaches either worker
    async with aiohttp.ClientSession(connector=fresh) as session:
        for n in range(3):
            status, answer = await post_hook(session, second.url, "feed", {"n": n})
            assert status == 202, answer

        async def counted() -> set[float | None]:
            return {await metric_value(session, second.url, received) for _ in range(8)}

        async def published() -> bool:
            return all(c is not None and c >= 3 for c in await counted())

        await wait_until(published, timeout=15, what="this run's requests counted")
        await asyncio.sleep(1.5)  # every worker has published its counts meanwhile
        assert await counted() == {3}, "this run's requests only"
    code, _ = await second.stop()
    assert code == 0, second.log_tail()
    assert not folder.exists(), "removed by the hub that made it"
