"""A full disk under the store: the intake refuses (503, never 2xx), the messages already
stored are still delivered (the store's disk reserve is released for them), nothing is
lost; once space is freed the intake accepts again and everything is delivered.

The store lives on a tmpfs of its own. It is 8 MiB, not 2: SQLite checkpoints its WAL
only once it holds 1000 pages (about 4 MiB), so on a 2 MiB file system the hub's own WAL
fills the disk after a few dozen commits and, with no checkpoint possible, fills again
whatever is freed. The disk is filled early, while the WAL is still growing, so commits
soon need new blocks; one that still fits in blocks the WAL already holds (after a
checkpoint, SQLite writes the WAL from its start again) is stored, answered 202, and must
be delivered like the others.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from e2e_kit import (
    Arrival,
    HubProcess,
    Reply,
    Target,
    created,
    free_port,
    integrity_check,
    post_hook,
    store_counts,
    wait_until,
    write_config,
)

SIZE = "8m"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs mounted for the test, unmounted after it."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    unmounted = subprocess.run(["umount", str(folder)], capture_output=True, check=False)
    if unmounted.returncode != 0:  # still busy (a hub that did not exit): detach it
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the file system has no block left; the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                written += os.write(fd, b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        while True:  # the last blocks, smaller than a chunk
            try:
                written += os.write(fd, b"\0" * 512)
            except OSError:
                break
    finally:
        os.close(fd)
    return written


async def test_disk_full(
    tmp_path: Path,
    disk: Path,
    session: aiohttp.ClientSession,
    make_hub: Callable[..., HubProcess],
) -> None:
    gate = asyncio.Event()

    async def held(arrival: Arrival) -> Reply:
        await gate.wait()
        return created(arrival)

    target = Target(held)
    await target.start()
    try:
        await _run(tmp_path, disk, session, make_hub, target, gate)
    finally:
        gate.set()
        await target.stop()


async def _run(
    tmp_path: Path,
    disk: Path,
    session: aiohttp.ClientSession,
    make_hub: Callable[..., HubProcess],
    target: Target,
    gate: asyncio.Event,
) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        {
            "store": {"path": str(disk / "hub.db"), "reserve": 3 * 1024 * 1024},
            "server": {"port": port, "retry_after": 1},
            "endpoints": {
                "shop": {"connector": "webhook"},
                "erp": {
                    "connector": "http",
                    "settings": {"base_url": target.url, "concurrency": 2, "timeout": "2s"},
                },
            },
            "flows": {
                "orders": {
                    "source": "shop",
                    "key": "k",
                    "targets": [
                        {
                            "endpoint": "erp",
                            "lease": "3s",
                            "retry": {"initial_delay": "0.2s", "max_delay": "1s"},
                        }
                    ],
                }
            },
        },
    )
    store = disk / "hub.db"
    hub = make_hub(config, port, grace=1.0)
    await hub.start_ready()
    accepted: dict[str, tuple[str, int]] = {}  # id -> (key, n)

    async def send(key: str, n: int) -> tuple[int, object]:
        status, answer = await post_hook(session, hub.url, "shop", {"k": key, "n": n})
        if status == 202:
            assert isinstance(answer, dict)
            accepted[answer["ids"][0]] = (key, n)
        return status, answer

    # -- before: 12 messages on 4 keys; the target holds the first two deliveries --------
    for n in range(12):
        status, answer = await send(f"k{n % 4}", n)
        assert status == 202, answer
    await wait_until(lambda: len(target.arrivals) == 2, timeout=30, what="2 deliveries in flight")
    await wait_until(
        lambda: store_counts(store).get("queued") == 12, timeout=30, what="all 12 routed"
    )

    # -- the disk fills ------------------------------------------------------------------------
    filler = disk / "filler"
    written = fill(filler)
    statvfs = os.statvfs(disk)
    print(f"filled {written} bytes; {statvfs.f_bavail * statvfs.f_frsize} bytes left")
    # A commit may still fit in space the store's files already hold (a WAL it reuses):
    # such a 202 is a stored message and must be delivered like the others. Soon the store
    # cannot commit, and from then on nothing is answered 2xx without being stored.
    refused: list[int] = []
    for n in range(100, 400):
        status, answer = await send("k9", n)
        if status == 202:
            assert not refused, f"202 after refusals on a full disk: {answer}"
            continue
        refused.append(status)
        assert status in (503, 507), f"a webhook on a full disk was answered {status}: {answer}"
        assert isinstance(answer, dict) and answer["error"] == "store_unavailable"
        if len(refused) == 10:
            break
    assert len(refused) == 10, f"the store kept committing on a full disk: {len(accepted)}"
    stored = len(accepted)
    async with session.get(f"{hub.url}/readyz") as ready:
        readiness = ready.status
    async with session.get(f"{hub.url}/healthz") as health:
        assert health.status == 200, "the hub stays up"
    print(f"while full: webhooks answered {sorted(set(refused))}, /readyz {readiness}")
    assert readiness == 503, "not ready while commits fail"

    # the disk reserve was released: the stored messages still deliver, intake stays shut
    gate.set()
    await wait_until(
        lambda: store_counts(store) == {"delivered": stored},
        timeout=60,
        what="the stored messages delivered while the disk is full",
        interval=0.2,
    )
    status, answer = await send("k9", 150)
    assert status in (503, 507), f"intake reopened on a full disk: {status} {answer}"
    print(f"while full: all {stored} stored messages delivered; intake still {status}")
    assert hub.running()

    # -- space comes back ------------------------------------------------------------------
    filler.unlink()

    async def accepts_again() -> bool:
        status, _answer = await send("k9", 200)
        return status == 202

    await wait_until(accepts_again, timeout=30, what="202 after the disk was freed", interval=0.2)
    for n in range(201, 205):
        status, answer = await send("k9", n)
        assert status == 202, answer
    await wait_until(
        lambda: store_counts(store) == {"delivered": len(accepted)},
        timeout=60,
        what="everything accepted delivered",
        interval=0.2,
    )
    firsts: dict[str, Arrival] = {}
    for arrival in target.arrivals:
        first = firsts.setdefault(arrival.message_id, arrival)
        assert arrival.idempotency_key == first.idempotency_key
    assert set(firsts) == set(accepted), "every accepted message, and nothing refused"
    for key in {k for k, _n in accepted.values()}:
        numbers = [accepted[m][1] for m in firsts if accepted[m][0] == key]
        assert numbers == sorted(numbers), f"key {key}: {numbers}"
    duplicated = len(target.arrivals) - len(firsts)
    print(f"after: accepted={len(accepted)} delivered={len(firsts)} lost=0 duplicated={duplicated}")
    code, _seconds = await hub.stop()
    assert code == 0, hub.log_tail()
    assert integrity_check(store) == "ok"
