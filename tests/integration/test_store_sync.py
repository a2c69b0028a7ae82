"""Every commit is on disk before its callers are answered: the store's writer syncs the
write-ahead log itself, after releasing the writers' lock, and answers only then. A sync
that fails fails its callers, and the store takes nothing more until it is reopened.

The operating system's ``fdatasync`` is wrapped here (held back, or failing as a dying
disk does); SQLite's own calls are not affected."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crossdock.bus import MessageQuery, SqliteBackend
from crossdock.core.envelope import Message
from crossdock.core.errors import StoreUnavailable


def order(n: int) -> Message:
    return Message.new(flow="f", source="s", event_type="e", body={"n": n}, key=f"k{n}")


class FirstSyncHeld:
    """``os.fdatasync``, wrapped: the first call waits until `release` is set; every call
    notes the file it syncs (`calls`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.syncing, self.release = threading.Event(), threading.Event()
        self.fail_first = False  # the held call fails as a dying disk does
        real = os.fdatasync

        def sync(fd: int) -> None:
            if not self.syncing.is_set():
                self.syncing.set()
                self.release.wait(10)
                if self.fail_first:
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
            self.calls.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, "fdatasync", sync)

    async def started(self) -> bool:
        return await asyncio.to_thread(self.syncing.wait, 5)


@pytest.fixture
async def held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SqliteBackend, FirstSyncHeld]]:
    """A store whose first sync is held back until the test releases it."""
    store = await SqliteBackend.open(tmp_path / "s.db")
    sync = FirstSyncHeld(monkeypatch)
    try:
        yield store, sync
    finally:
        sync.release.set()
        await store.close()


async def test_a_commit_is_answered_only_once_the_wal_is_synced(
    tmp_path: Path, held: tuple[SqliteBackend, FirstSyncHeld]
) -> None:
    store, sync = held
    first = order(1)
    stored = asyncio.create_task(store.enqueue(first))
    assert await sync.started(), "the writer syncs the WAL"
    await asyncio.sleep(0.3)
    assert not stored.done(), "answered before its commit was on disk"
    # committed meanwhile (another connection sees it); the caller still waits
    assert [m.id for m in await store.find_messages(MessageQuery())] == [first.id]
    sync.release.set()
    result = await asyncio.wait_for(stored, 5)
    assert result.message_id == first.id
    assert sync.calls == [f"{tmp_path / 's.db'}-wal"]


async def test_commits_made_while_one_syncs_share_the_next_sync(
    held: tuple[SqliteBackend, FirstSyncHeld],
) -> None:
    """While one commit is being synced, the writer goes on committing; the next sync
    covers every commit made meanwhile, and each caller is answered after its own."""
    store, sync = held
    first = asyncio.create_task(store.enqueue(order(0)))
    assert await sync.started()
    later = [asyncio.create_task(store.enqueue(order(n))) for n in range(1, 40)]
    await asyncio.sleep(0.3)  # the writer commits them meanwhile
    assert len(await store.find_messages(MessageQuery())) == 40, "committed meanwhile"
    assert not any(t.done() for t in [first, *later]), "none answered before its sync"
    sync.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert 2 <= len(sync.calls) < 40, f"{len(sync.calls)} syncs for 40 commits"


async def test_a_failed_sync_fails_its_callers_and_stops_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    store = await SqliteBackend.open(path)
    kept = order(1)
    await store.enqueue(kept)

    def dying_disk(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdatasync", dying_disk)
    with pytest.raises(StoreUnavailable, match="could not be synced"):
        await asyncio.wait_for(store.enqueue(order(2)), 5)
    monkeypatch.undo()  # the disk answers again: a sync succeeding now proves nothing
    refused = order(3)
    with pytest.raises(StoreUnavailable, match="until the hub is restarted"):
        await asyncio.wait_for(store.enqueue(refused), 5)
    await store.close()

    reopened = await SqliteBackend.open(path)
    try:
        again = order(4)
        await reopened.enqueue(again)
        found = {m.id for m in await reopened.find_messages(MessageQuery())}
        assert {kept.id, again.id} <= found
        assert refused.id not in found
    finally:
        await reopened.close()


async def test_a_store_opened_read_only_syncs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    store = await SqliteBackend.open(path)
    await store.enqueue(order(1))
    await store.close()
    sync = FirstSyncHeld(monkeypatch)
    sync.release.set()
    reader = await SqliteBackend.open(path, read_only=True)
    try:
        assert len(await reader.find_messages(MessageQuery())) == 1
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(reader.enqueue(order(2)), 5)
    finally:
        await reader.close()
    assert sync.calls == []


async def test_commits_made_before_a_failed_sync_was_known_fail_too(
    held: tuple[SqliteBackend, FirstSyncHeld],
) -> None:
    """Commits made while the failing sync was under way follow frames that may be lost
    (SQLite's recovery stops at the first bad one): a later sync succeeding does not
    make them safe, so their callers are failed as well."""
    store, sync = held
    sync.fail_first = True
    first = asyncio.create_task(store.enqueue(order(0)))
    assert await sync.started()
    later = [asyncio.create_task(store.enqueue(order(n))) for n in range(1, 6)]
    await asyncio.sleep(0.3)
    assert len(await store.find_messages(MessageQuery())) == 6, "committed meanwhile"
    sync.release.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 5)
    assert all(isinstance(a, StoreUnavailable) for a in answers), answers
