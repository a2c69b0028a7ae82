"""Group commit: one writer thread runs every write of the process.

Callers submit an operation (a function of the connection) and await its result. The
writer takes every operation waiting at that moment, runs them in one transaction and
commits once (one fsync with ``synchronous=FULL``), then answers each caller. A caller is
answered only after the transaction holding its operation has committed.

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
    ):
        self._connect = connect
        self._on_full = on_full
        # The store's file and its WAL, as opened: a commit into a file someone removed or
        # replaced would be acknowledged and then lost, so each commit checks first.
        self._files: dict[str, tuple[int, int] | None] = (
            {} if store_path is None else {store_path: None, f"{store_path}-wal": None}
        )
        self._lock_fd = None if lock_path is None else os.open(lock_path, os.O_RDWR | os.O_CREAT)
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self.commits = 0  # transactions committed (read by the benchmarks)
        # Why the last transaction failed, until one commits again (read by the backend
        # to refuse new messages at once meanwhile).
        self.failing: str | None = None
        self.operations = 0  # operations in those transactions
        self._open_error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="crossdock-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
            raise self._open_error

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

    def _run(self) -> None:
        try:
            conn = self._connect()
            self._check_files()  # as opened
        except BaseException as exc:
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
        if self._lock_fd is None:
            self._transaction(conn, batch)
            return
        # Writers in other processes queue on this lock and are woken the moment it is
        # free, instead of sleeping in SQLite's busy back-off (waits of up to seconds).
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._transaction(conn, batch)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _transaction(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            outcomes = self._commit(conn, batch)
        except (sqlite3.OperationalError, sqlite3.InternalError) as exc:
            # Disk full, I/O error, lock timeout: nothing committed, try again later.
            if self._on_full is not None and "full" in str(exc):
                self._on_full()
            failure = StoreUnavailable(f"the store could not commit: {exc}")
            failure.__cause__ = exc
            outcomes = [(False, failure)] * len(batch)
            self.failing = str(exc)
        except BaseException as exc:
            if len(batch) > 1:
                # One operation is at fault (a constraint, a bug): run each alone, so only
                # that one fails and the others still commit.
                for job in batch:
                    self._transaction(conn, [job])
                return
            outcomes = [(False, _refusal(exc))]
        self._answer(batch, outcomes)

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """Run the batch in one transaction; on any exception roll back and re-raise."""
        outcomes: list[tuple[bool, Any]] = []
        try:
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
    def _answer(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            per_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in per_loop.items():
            # A closed loop means nobody waits for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, results)
