"""Group commit: one writer thread runs every write of the process.

Callers submit an operation (a function of the connection) and await its result. The
writer takes every operation waiting at that moment, runs them in one transaction and
commits once, then answers each caller. A caller is answered only after the transaction
holding its operation has committed *and is on disk*.

With ``sync_wal``, the writer syncs the write-ahead log itself instead of letting
SQLite do it inside ``COMMIT`` (``synchronous=NORMAL`` on its connection, which syncs only
around checkpoints): after each commit it releases the writers' lock at once, and a second
thread ``fdatasync``s the WAL and only then answers the callers, once for every commit made
meanwhile. Another process writing to the store (``--workers N``) no longer waits for this
one's disk, and this one starts its next transaction while the last is being synced.
What a caller is answered (in any process) rests only on commits already on disk, as with
``synchronous=FULL``: every writer syncs the one WAL file, which holds every commit made
before, before answering. If the sync fails, the commits it covered may be lost: their
callers get `StoreUnavailable`, and the writer stores nothing more until the store is
opened again (after a failed ``fsync`` the kernel may have dropped the unwritten pages, so a
later one succeeding proves nothing).

An operation may also be *grouped* (`submit_grouped`): one item, and a function that
applies many items at once (one ``executemany`` per table instead of statements per item).
The writer applies the items of all the jobs of a batch with the same function in one call,
at the place of the first of them: the jobs of one batch were all submitted before any was
answered (every caller awaits its answer), so no order among them is owed to anyone. Such a
function raises no domain error: it returns `Refused` for an item it refused, having
written nothing for it. If it fails, the batch is re-run one operation at a time, as any
failed batch is.

Operations must raise their domain errors (`LeaseLost`, ...) before their first write, so
a refused operation leaves nothing behind and the others in the batch still commit. An
SQLite error of the store itself (disk full, I/O error, lock timeout) fails the whole batch
with `StoreUnavailable` and rolls it back. Any other failure (a constraint, a value that
cannot be stored, a bug) rolls the batch back and re-runs its operations one by one, so
only the faulty one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from crossdock.core.errors import CrossdockError, StoreError, StoreUnavailable

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]
Many = Callable[[sqlite3.Connection, list[Any]], list[Any]]
"""Applies items in order; one result per item."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A grouped function's result for an item it refused (it wrote nothing for it)."""

    error: CrossdockError


@dataclass(slots=True)
class _Job:
    op: Operation[Any] | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    many: Many | None = None
    item: Any = None


@dataclass(slots=True)
class _Done:
    """A batch run, waiting for its commit (if any) to be on disk before it is answered."""

    batch: list[_Job]
    outcomes: list[tuple[bool, Any]]
    committed: bool


def _settle(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _gathered(batch: list[_Job]) -> list[_Job]:
    """The batch with the jobs of each grouped function together, where the first was."""
    if len(batch) < 3:
        return batch
    places: dict[object, list[_Job]] = {}
    for job in batch:
        places.setdefault(job.many if job.many is not None else id(job), []).append(job)
    if len(places) == len(batch):
        return batch
    return [job for jobs in places.values() for job in jobs]


def _refusal(exc: BaseException) -> BaseException:
    """What the caller of a failed lone operation gets: constraint -> StoreError, bug as is."""
    if isinstance(exc, sqlite3.IntegrityError):
        refused = StoreError(f"the store refused the operation: {exc}")
        refused.__cause__ = exc
        return refused
    return exc


class Writer:
    """Owns the write connection and runs submitted operations in group commits."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_batch: int = 1000,
        lock_path: str | None = None,
        on_full: Callable[[], None] | None = None,
        store_path: str | None = None,
        sync_wal: bool = False,
    ):
        self._connect = connect
        self._on_full = on_full
        # The store's file and its WAL, as opened: a commit into a file someone removed or
        # replaced would be acknowledged and then lost, so each commit checks first.
        self._files: dict[str, tuple[int, int] | None] = (
            {} if store_path is None else {store_path: None, f"{store_path}-wal": None}
        )
        # ``sync_wal``: the writer syncs the store's WAL itself (see the module docstring);
        # else SQLite syncs inside each COMMIT (synchronous=FULL, as connected).
        self._wal = f"{store_path}-wal" if sync_wal and store_path is not None else None
        self._wal_fd: int | None = None
        self._broken: str | None = None  # why nothing more is stored (a sync failed)
        self._lock_fd = None if lock_path is None else os.open(lock_path, os.O_RDWR | os.O_CREAT)
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[_Done | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self.commits = 0  # transactions committed (read by the benchmarks)
        # Why the last transaction failed, until one commits again (read by the backend
        # to refuse new messages at once meanwhile).
        self.failing: str | None = None
        self.operations = 0  # operations in those transactions
        self._open_error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="crossdock-writer", daemon=True)
        self._syncer = threading.Thread(target=self._sync, name="crossdock-sync", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
            raise self._open_error
        self._syncer.start()

    def submit(self, op: Operation[T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Job(op, loop, future))
        return future

    def submit_grouped(self, many: Many, item: Any) -> asyncio.Future[Any]:
        """Like `submit` for ``many(conn, [item])``, applied together with like neighbours."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._put(_Job(None, loop, future, many, item))
        return future

    def _put(self, job: _Job) -> None:
        if self._closed:  # nobody would ever answer it
            job.future.set_exception(StoreUnavailable("the store is closed"))
        else:
            self._jobs.put(job)

    def close(self) -> None:
        """Finish the queued operations, then close the connection; later operations
        fail at once with StoreUnavailable."""
        self._closed = True
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if self._syncer.is_alive():
            self._done.put(None)
            self._syncer.join()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._open_error = exc
            self._ready.set()
            return
        try:
            self._check_files()  # as opened
            if self._wal is not None:
                conn.execute("PRAGMA synchronous = NORMAL")  # the WAL is synced by _sync
                # Opened now, while the connection keeps the WAL in place: the last
                # connection to close may delete it (after moving it into the store).
                self._wal_fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException as exc:
            conn.close()
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    break
                batch = [job]
                stop = self._drain(batch)
                self._execute(conn, _gathered(batch))
                if stop:
                    break
        finally:
            conn.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)

    def _drain(self, batch: list[_Job]) -> bool:
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            batch.append(job)
        return False

    def _execute(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        commits = self.commits
        if self._lock_fd is None:
            outcomes = self._transaction(conn, batch)
        else:
            # Writers in other processes queue on this lock and are woken the moment it
            # is free, instead of sleeping in SQLite's busy back-off (waits of up to
            # seconds).
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                outcomes = self._transaction(conn, batch)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        done = _Done(batch, outcomes, committed=self.commits != commits)
        if self._wal is None:
            self._answer(done)  # SQLite synced inside COMMIT
        else:
            self._done.put(done)

    def _sync(self) -> None:
        """Answer each batch run, in order, once its commit is on disk: one ``fdatasync``
        of the WAL for every batch run since the last one."""
        while True:
            first = self._done.get()
            if first is None:
                return
            waiting = [first]
            stop = False
            while True:
                try:
                    more = self._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                waiting.append(more)
            if any(d.committed for d in waiting):
                failure = self._sync_wal()
                if failure is not None:
                    for d in waiting:
                        if d.committed:
                            d.outcomes = [(False, failure)] * len(d.batch)
            for d in waiting:
                self._answer(d)
            if stop:
                return

    def _sync_wal(self) -> StoreUnavailable | None:
        """``fdatasync`` the WAL; on failure, stop storing anything (see the module
        docstring) and return the error for the callers of what it covered."""
        assert self._wal is not None
        if self._broken is not None:
            # Committed after a sync failed: its frames follow ones that may be lost, and
            # SQLite's recovery stops at the first bad frame of the WAL.
            return StoreUnavailable(f"the store could not commit: {self._broken}")
        try:
            if self._wal_fd is None:
                raise OSError("the WAL is not open")
            os.fdatasync(self._wal_fd)
        except OSError as exc:
            reason = f"{self._wal} could not be synced to disk ({exc.strerror or exc})"
            self._broken = f"{reason}: nothing more is stored until the hub is restarted"
            self.failing = self._broken
            return StoreUnavailable(f"the store could not commit: {reason}")
        return None

    def _transaction(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """Run the batch; each job's outcome (ok, result or error)."""
        try:
            return self._commit(conn, batch)
        except (sqlite3.OperationalError, sqlite3.InternalError) as exc:
            # Disk full, I/O error, lock timeout: nothing committed, try again later.
            if self._on_full is not None and "full" in str(exc):
                self._on_full()
            failure = StoreUnavailable(f"the store could not commit: {exc}")
            failure.__cause__ = exc
            self.failing = str(exc)
            return [(False, failure)] * len(batch)
        except BaseException as exc:
            if len(batch) > 1:
                # One operation is at fault (a constraint, a bug): run each alone, so only
                # that one fails and the others still commit.
                return [outcome for job in batch for outcome in self._transaction(conn, [job])]
            return [(False, _refusal(exc))]

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """Run the batch in one transaction; on any exception roll back and re-raise."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            if self._broken is not None:
                raise sqlite3.OperationalError(self._broken)
            conn.execute("BEGIN IMMEDIATE")
            done = 0
            while done < len(batch):
                done = self._apply(conn, batch, done, outcomes)
            self._check_files()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        self.commits += 1
        self.failing = None
        self.operations += len(batch)
        return outcomes

    def _check_files(self) -> None:
        """Raise (an SQLite error: the batch rolls back, its callers get StoreUnavailable)
        if the store's file or its WAL is no longer the one this writer opened."""
        for path, known in self._files.items():
            try:
                info = os.stat(path)
            except FileNotFoundError:
                if known is None:
                    continue  # a WAL not created yet
                info = None
            found = None if info is None else (info.st_dev, info.st_ino)
            if known is None:
                self._files[path] = found
            elif found != known:
                raise sqlite3.OperationalError(
                    f"{path} was removed or replaced while the hub had it open: nothing"
                    " more is stored until the hub is restarted"
                )

    @staticmethod
    def _apply(
        conn: sqlite3.Connection, batch: list[_Job], start: int, outcomes: list[tuple[bool, Any]]
    ) -> int:
        """Run the job at ``start`` (with its grouped neighbours); the index of the next one."""
        job = batch[start]
        if job.many is not None:
            end = start + 1
            while end < len(batch) and batch[end].many is job.many:
                end += 1
            results = job.many(conn, [j.item for j in batch[start:end]])
            outcomes.extend(
                (False, r.error) if isinstance(r, Refused) else (True, r) for r in results
            )
            return end
        assert job.op is not None
        before = conn.total_changes
        try:
            outcomes.append((True, job.op(conn)))
        except CrossdockError as exc:
            if conn.total_changes != before:
                raise RuntimeError("operation failed after writing") from exc
            outcomes.append((False, exc))
        return start + 1

    @staticmethod
    def _answer(done: _Done) -> None:
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(done.batch, done.outcomes, strict=True):
            per_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in per_loop.items():
            # A closed loop means nobody waits for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, results)
