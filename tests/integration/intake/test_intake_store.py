"""The store pushes back: a long queue answers 429, a store that cannot commit 503."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from intake_kit import CONFIG, Intake, serve, wait_for, write_config

from crossdock.bus import INTAKE
from crossdock.core.envelope import Message

ORDER = orjson.dumps({"order": {"id": 1, "lines": [{"sku": "a"}]}})


def depth_limited(tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Intake]:
    text = CONFIG.replace("retry_after: 7}", "retry_after: 7, max_queue_depth: 3}")
    return serve(write_config(tmp_path, text), tmp_path / "crossdock.db")


async def test_back_pressure_429_before_reading_then_recovery(tmp_path: Path) -> None:
    async with depth_limited(tmp_path) as intake:
        messages = [
            Message.new(flow="orders", source="shop", event_type="t", body={}, key=str(i))
            for i in range(4)
        ]
        await intake.backend.enqueue_many(messages)
        accepted: list[str] = []

        async def refused() -> bool:
            reply = await intake.post_json("shop", ORDER)
            if reply.status == 202:
                accepted.extend(reply.json["ids"])
                return False
            assert reply.status == 429, reply
            assert reply.json["error"] == "too_many_requests"
            assert reply.headers["Retry-After"] == "7"
            return True

        await wait_for(refused, what="429")
        assert len(await intake.stored()) == 4 + len(accepted)

        # The body is not read: a declared gigabyte is answered 429, not 413.
        reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
        writer.write(
            b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 429 ")
        writer.close()

        while batch := await intake.backend.claim(INTAKE, worker="test", limit=100):
            for delivery in batch:
                await intake.backend.ack(delivery)

        async def accepted_again() -> bool:
            return (await intake.post_json("shop", ORDER)).status == 202

        await wait_for(accepted_again, what="202 once the queue drained")


# -- a store that cannot commit ---------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(directory: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted at ``directory`` (we run as root); skip if not permitted."""
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


async def test_a_full_disk_answers_503_and_stores_nothing_of_that_request(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    with small_tmpfs(tmp_path / "small") as small:
        async with serve(config, small / "crossdock.db") as intake:
            accepted = [(await intake.post_json("shop", ORDER)).json["ids"]]
            fill(small / "filler")
            reply = None
            for i in range(300):
                pad = "x" * 3800
                body = orjson.dumps({"order": {"id": i, "lines": [{"sku": "a"}], "pad": pad}})
                reply = await intake.post_json("shop", body)
                if reply.status != 202:
                    break
                accepted.append(reply.json["ids"])
            assert reply is not None
            assert reply.status == 503, "the disk never filled up"
            assert reply.json["error"] == "store_unavailable"
            assert reply.headers["Retry-After"] == "7"
            stored = sorted(s.id for s in await intake.stored())
            assert stored == sorted(i for ids in accepted for i in ids)
            assert (await intake.request("GET", "/readyz")).status == 503

            (small / "filler").unlink()
            reply = await intake.post_json("shop", ORDER)
            assert reply.status == 202
            assert len(await intake.stored()) == len(stored) + 2
        with contextlib.closing(sqlite3.connect(small / "crossdock.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


async def test_a_locked_store_answers_503(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = tmp_path / "crossdock.db"
    async with serve(config, store, busy_timeout_ms=200) as intake:
        locker = sqlite3.connect(store, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
            reply = await intake.post_json("shop", ORDER)
            assert (reply.status, reply.json["error"]) == (503, "store_unavailable")
            assert reply.headers["Retry-After"] == "7"
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        assert await intake.stored() == []
        reply = await intake.post_json("shop", ORDER)
        assert reply.status == 202
        assert len(await intake.stored()) == 2


@pytest.mark.parametrize("how", ["removed", "replaced", "wal removed"])
async def test_a_store_file_removed_under_the_hub_stores_nothing_more(
    tmp_path: Path, how: str
) -> None:
    """Once the store's file (or its WAL) is not the one the hub opened, a 202 would be a
    promise kept in a file nobody reads again: webhooks get 503 and readiness turns 503."""
    store = tmp_path / "crossdock.db"
    async with serve(write_config(tmp_path), store) as intake:
        assert (await intake.post_json("shop", ORDER)).status == 202
        _disturb(store, how)
        reply = await intake.post_json("shop", ORDER)
        assert (reply.status, reply.json["error"]) == (503, "store_unavailable")
        assert (await intake.request("GET", "/readyz")).status == 503


def _disturb(store: Path, how: str) -> None:
    if how == "removed":
        for path in store.parent.glob(f"{store.name}*"):
            path.unlink()
    elif how == "replaced":
        copy = store.with_name("copy.db")
        copy.write_bytes(store.read_bytes())
        copy.replace(store)
    else:
        store.with_name(f"{store.name}-wal").unlink()
