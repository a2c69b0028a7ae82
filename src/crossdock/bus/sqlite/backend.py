"""The embedded backend: one SQLite file in WAL mode, group commit, every commit synced to
disk before its callers are answered (see `crossdock.bus.sqlite.writer`)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import heapq
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote

import orjson

from crossdock.bus import base
from crossdock.bus.base import (
    INTAKE,
    Delivery,
    EnqueueResult,
    Event,
    Forward,
    Journey,
    MessageQuery,
    MessageSummary,
    QueueStats,
    Routed,
    Selector,
    Step,
    Taker,
)
from crossdock.bus.sqlite import deadletter, enqueue, lanes, reads, settle
from crossdock.bus.sqlite.enqueue import NewMessage, Outcome, Stored
from crossdock.bus.sqlite.reserve import DiskReserve
from crossdock.bus.sqlite.writer import Writer
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import StoreUnavailable
from crossdock.core.masking import Masker

T = TypeVar("T")
Clock = Callable[[], float]


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("crossdock.bus.sqlite") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text()))
    return sorted(found)


def _connect(path: str, *, busy_timeout_ms: int, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return _connect_read_only(path, busy_timeout_ms=busy_timeout_ms)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        _use_wal(conn, busy_timeout_ms / 1000)
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """WAL mode, waiting up to ``timeout`` seconds for the lock it takes.

    Processes that open a new store at once (the workers of ``--workers N``) race to
    switch it to WAL, and SQLite answers the losers "database is locked" at once, without
    its busy handler: they try again until the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def _connect_read_only(path: str, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection that writes nothing, for commands that only read.

    ``mode=ro`` reads a WAL database as long as SQLite can open (or create) the ``-shm``
    file beside it. In a folder it cannot write to, and with no ``-wal`` file there (the
    last hub closed cleanly: every commit is in the database file), the file is opened
    ``immutable`` instead: nobody can write to it without creating that ``-wal`` file.
    """

    def connect(uri: str) -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            conn.execute("PRAGMA user_version").fetchone()  # opens the file (and -shm)
        except BaseException:
            conn.close()
            raise
        return conn

    uri = f"file:{quote(path)}?mode=ro"
    try:
        return connect(uri)
    except sqlite3.OperationalError:
        folder = os.path.dirname(path) or "."
        if os.path.exists(f"{path}-wal") or os.access(folder, os.W_OK):
            raise
    return connect(f"{uri}&immutable=1")


class _Outdated(Exception):
    """A store opened read-only needs migrating first."""


def _check_current(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] < _migrations()[-1][0]:
        raise _Outdated


def _os_reason(exc: OSError) -> str:
    """``read-only file system (/data/hub.db.lock)``: what failed, on which file."""
    reason = (exc.strerror or str(exc)).lower()
    return f"{reason} ({exc.filename})" if exc.filename else reason


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreUnavailable(
            f"cannot open the store {path}: {path.parent} is not a folder"
        ) from None
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot open the store {path}: cannot create its folder: {_os_reason(exc)}"
        ) from exc


def _create_lock_file(path: Path) -> None:
    """The writers' lock file, created here (readable by all, not executable) so that a
    folder the store cannot be written in is named at once, by the first file it needs."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def claim_store(path: Path | str) -> int:
    """Make this process, and the processes it forks, the only hub running on the store.

    An exclusive ``flock`` on ``PATH.owner`` (which holds the owner's pid), held as long
    as the returned descriptor is open in any of them; close it to give the store up.
    Not to be confused with ``PATH.lock``, which every process writing to the store (an
    operator's replay too) takes around each transaction. StoreUnavailable when another
    hub holds the store, or when the file cannot be created.
    """
    path = Path(path)
    _make_folder(path)
    try:
        fd = os.open(f"{path}.owner", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the store {path}: {_os_reason(exc)}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise StoreUnavailable(
            f"the store {path} is in use by another hub{pid}: stop that one first, or give "
            "this one a store.path of its own"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the numbered migrations not applied yet (tracked in ``user_version``)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in _migrations():
            if number > version:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise


def _remembered_mask(conn: sqlite3.Connection, mask: Iterable[str] | None) -> list[str]:
    """Store ``mask`` as the store's journal mask; with None, use the one stored before."""
    if mask is not None:
        fields = sorted(set(mask))
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('journal.mask', ?)"
            " ON CONFLICT DO UPDATE SET value = excluded.value",
            (orjson.dumps(fields),),
        )
        return fields
    row = conn.execute("SELECT value FROM meta WHERE name = 'journal.mask'").fetchone()
    return [] if row is None else list(orjson.loads(row[0]))


_P = ParamSpec("_P")


def _admitting(
    method: Callable[Concatenate[SqliteBackend, _P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[SqliteBackend, _P], Coroutine[Any, Any, T]]:
    """Runs a method that stores new messages only while the disk has room, and while the
    store commits (else as `SqliteBackend._probe` allows)."""

    @functools.wraps(method)
    async def admitted(self: SqliteBackend, /, *args: _P.args, **kwargs: _P.kwargs) -> T:
        self._check_room()
        if self._writer.failing is None:  # the usual case: no context manager to enter
            return await method(self, *args, **kwargs)
        with self._probe():
            return await method(self, *args, **kwargs)

    return admitted


class SqliteBackend:
    """`Backend` on one SQLite file. Create with `SqliteBackend.open`.

    ``mask``: body field names to mask in the journal. The store remembers it, so a
    process that opens the store with ``mask=None`` (an operator command) masks the same.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = time.time,
        mask: Iterable[str] | None = None,
        busy_timeout_ms: int = 10_000,
        reserve_bytes: int = 0,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self._clock = clock
        self._mask = Masker()
        self._masking = False  # whether the mask names any field
        self._read_only = read_only

        def connect() -> sqlite3.Connection:
            conn = _connect(str(path), busy_timeout_ms=busy_timeout_ms, read_only=read_only)
            try:
                if read_only:
                    _check_current(conn)
                else:
                    migrate(conn)
                fields = _remembered_mask(conn, None if read_only else mask)
            except BaseException:
                conn.close()
                raise
            self._mask, self._masking = Masker(fields), bool(fields)
            return conn

        # Read-only: no reserve, no lock file; writes fail on the read-only connection.
        self._reserve = DiskReserve(Path(f"{path}.reserve"), 0 if read_only else reserve_bytes)
        self._reserve.ensure()
        if not read_only:
            _create_lock_file(path)
        self._writer = Writer(
            connect,
            lock_path=None if read_only else f"{path}.lock",
            on_full=self._reserve.release,
            store_path=str(path),
            sync_wal=not read_only,
        )
        self._store_groups = functools.partial(enqueue.store_groups, clock=clock)
        self._ack_many = functools.partial(settle.ack_many, clock=clock)
        self._wakeups: dict[str, asyncio.Event] = {}
        self._takers: dict[str, Taker] = {}
        self._probing = False  # a new message is trying a store whose commits failed
        self._due: dict[str, list[float]] = {}  # destination -> heap of retry times set here
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="crossdock-reader")
        self._reader: sqlite3.Connection | None = None
        self._busy_timeout_ms = busy_timeout_ms

    @classmethod
    async def open(
        cls, path: Path | str, *, read_only: bool = False, **options: object
    ) -> SqliteBackend:
        """Open (creating and migrating if needed) the store at ``path``.

        ``read_only``: for commands that only read. Nothing is created or written, so a
        store in a folder they cannot write to can still be read (a store that needs
        migrating first is opened for writing all the same); writes fail with
        StoreUnavailable. Any failure to open is StoreUnavailable ``cannot open the store
        PATH: why``.
        """
        path = Path(path)
        if not read_only:
            _make_folder(path)
        try:
            return await asyncio.to_thread(
                lambda: cls(path, read_only=read_only, **options)  # type: ignore[arg-type]
            )
        except _Outdated:
            return await cls.open(path, **options)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the store {path}: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the store {path}: {_os_reason(exc)}") from exc

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.submit(op)

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._reader is None:
                self._reader = _connect(
                    str(self.path), busy_timeout_ms=self._busy_timeout_ms, read_only=self._read_only
                )
            return query(self._reader)

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader_pool, run)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store could not be read: {exc}") from exc

    def _masked(self, events: Sequence[Event]) -> Sequence[Event]:
        if not self._masking:
            return events
        return [
            e if e.payload is None else Event(e.step, e.detail, self._mask(e.payload))
            for e in events
        ]

    @_admitting
    async def enqueue(
        self,
        message: Message,
        destination: str = INTAKE,
        *,
        dedup_key: str | None = None,
        events: Sequence[Event] = (),
    ) -> EnqueueResult:
        received = Event(Step.RECEIVED, base.detail(dedup_key=dedup_key, destination=destination))
        rows = lanes.journal_rows(message.id, None, None, [received, *self._masked(events)])
        if dedup_key is None:  # nothing to check: stored together with its neighbours
            new = enqueue.new_message(message, destination, None, rows)
            await self._writer.submit_grouped(self._store_groups, [new])
            self._notify(destination)
            return EnqueueResult(message.id, duplicate=False)
        earlier = await self._write(
            lambda c: enqueue.enqueue(c, message, destination, dedup_key, rows, self._clock())
        )
        if earlier is not None:
            return EnqueueResult(earlier, duplicate=True)
        self._notify(destination)
        return EnqueueResult(message.id, duplicate=False)

    @_admitting
    async def enqueue_many(
        self,
        messages: Sequence[Message],
        destination: str = INTAKE,
        *,
        dedup: tuple[str, str] | None = None,
        cursor: tuple[str, JSON] | None = None,
        routed: Sequence[Routed | None] = (),
    ) -> list[EnqueueResult]:
        if routed and (len(routed) != len(messages) or destination != INTAKE):
            raise ValueError("routed needs one item per message, and intake as destination")
        dedup_key = None if dedup is None else dedup[1]
        handing: list[_Handing] = []  # deliveries reserved by a taker, to hand it after
        stored: list[Stored] = []
        try:
            outcomes = [
                None if r is None else self._outcome(m, r, handing)
                for m, r in zip(messages, routed or [None] * len(messages), strict=True)
            ]
            news = [  # a message with an outcome gets its intake rows only if it goes there
                enqueue.new_message(
                    m,
                    destination,
                    dedup_key,
                    enqueue.received_rows(m.id, destination) if o is None else None,
                    o,
                )
                for m, o in zip(messages, outcomes, strict=True)
            ]
            if dedup is None and cursor is None:  # nothing to check: stored with neighbours
                grouped = self._writer.submit_grouped(self._store_groups, news)
                stored = await self._outlasting(grouped, handing, lambda r: r)
            else:
                checked = self._writer.submit(
                    lambda c: enqueue.enqueue_many(c, news, dedup, cursor, self._clock())
                )
                earlier, done = await self._outlasting(checked, handing, lambda r: r[1])
                if earlier is not None:
                    return [EnqueueResult(i, duplicate=True) for i in earlier]
                stored = done
        finally:  # also when nothing was stored: the reservations are given back
            if handing:
                self._hand_over(handing, stored)
        self._notify_stored(news, stored)
        return [EnqueueResult(m.id, False, s.routed) for m, s in zip(messages, stored, strict=True)]

    async def _outlasting(
        self,
        commit: asyncio.Future[T],
        handing: list[_Handing],
        stored_of: Callable[[T], Sequence[Stored]],
    ) -> T:
        """The commit's result. If the caller is cancelled meanwhile (the commit goes on
        in the writer), its reserved deliveries are handed over, or given back, when the
        commit ends, as they would have been: not left leased to nobody."""
        if not handing:
            return await commit
        try:
            return await asyncio.shield(commit)
        except asyncio.CancelledError:
            orphans = list(handing)
            handing.clear()

            def hand_over_later(done: asyncio.Future[T]) -> None:
                ok = not done.cancelled() and done.exception() is None
                self._hand_over(orphans, stored_of(done.result()) if ok else [])

            commit.add_done_callback(hand_over_later)
            raise

    def hand_to(self, destination: str, taker: Taker | None) -> None:
        if taker is None:
            self._takers.pop(destination, None)
        else:
            self._takers[destination] = taker

    def _outcome(self, message: Message, routed: Routed, handing: list[_Handing]) -> Outcome:
        events = [Event(Step.RECEIVED), *self._masked(routed.events)]
        return Outcome(
            lanes.journal_rows(message.id, None, None, events),
            self._new_entries(message, routed.forward, handing),
            filtered=any(e.step is Step.FILTERED for e in routed.events),
        )

    def _new_entries(
        self, message: Message, forward: Sequence[Forward], handing: list[_Handing] | None = None
    ) -> list[lanes.NewEntry]:
        """The deliveries to create, encoded; a journal snapshot of the very payload being
        delivered reuses its encoding (unless the mask changes it). With ``handing``, a
        delivery whose destination's taker has room gets a lease to be created with."""
        created = []
        for f in forward:
            payload = None if f.payload is None else orjson.dumps(f.payload)
            encoded = None if payload is None or self._masking else (f.payload, payload)
            rows = lanes.journal_rows(
                message.id, f.destination, None, self._masked(f.events), encoded
            )
            taker = None
            if handing is not None and f.available_at is None:
                taker = self._takers.get(f.destination)
                if taker is not None and not taker.reserve():
                    taker = None
            lease = None
            if taker is not None:
                lease = lanes.Lease(lanes.lease_token(), taker.worker, taker.lease_seconds)
            entry = lanes.NewEntry(f.destination, payload, rows, f.available_at, lease)
            if taker is not None and handing is not None:
                handing.append(_Handing(entry, taker, message, f))
            created.append(entry)
        return created

    def _hand_over(self, handing: Sequence[_Handing], stored: Sequence[Stored]) -> None:
        """After the commit (or its failure): each reserved delivery to its taker, leased
        or not (then it is claimable, or was never stored)."""
        leased = {id(x.entry): x for s in stored for x in s.leased}
        for h in handing:
            done = leased.get(id(h.entry))
            if done is None:
                h.taker.unreserve()
                self._notify(h.entry.destination)
                continue
            assert h.entry.lease is not None
            payload = h.message.body if h.forward.payload is None else h.forward.payload
            h.taker.take(
                Delivery(
                    h.message.with_attempt(1),
                    h.entry.destination,
                    payload,
                    h.entry.lease.token,
                    done.expires,
                    done.seq,
                )
            )

    def _notify_stored(self, news: Sequence[NewMessage], stored: Sequence[Stored]) -> None:
        for new, s in zip(news, stored, strict=True):
            if not s.routed:
                self._notify(new.destination)
            elif new.outcome is not None:
                self._notify(*(e.destination for e in new.outcome.entries if e.lease is None))

    async def get_cursor(self, name: str) -> JSON | None:
        def query(c: sqlite3.Connection) -> JSON | None:
            row = c.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
            return None if row is None else orjson.loads(row[0])

        return await self._read(query)

    async def claim(
        self, destination: str, *, worker: str, limit: int = 1, lease_seconds: float = 30.0
    ) -> list[Delivery]:
        claimed = await self._write(
            lambda c: settle.claim(c, destination, worker, limit, lease_seconds, self._clock())
        )
        return settle.deliveries(claimed, destination)

    def _rows(self, delivery: Delivery, events: Sequence[Event]) -> list[lanes.JournalRow]:
        return lanes.journal_rows(
            delivery.message.id,
            delivery.destination,
            delivery.message.attempt,
            self._masked(events),
        )

    async def ack(
        self, delivery: Delivery, *, events: Sequence[Event] = (), forward: Sequence[Forward] = ()
    ) -> None:
        created = self._new_entries(delivery.message, forward)
        ack = settle.Ack(delivery, self._rows(delivery, events), created)
        goes_on = await self._writer.submit_grouped(self._ack_many, ack)
        # the lane's next delivery may be claimable now, as may the forwarded ones
        if goes_on:
            self._notify(delivery.destination)
        self._notify(*(f.destination for f in forward))

    async def retry_at(
        self, delivery: Delivery, when: float, *, events: Sequence[Event] = ()
    ) -> None:
        rows = self._rows(delivery, events)
        await self._write(lambda c: settle.retry_at(c, delivery, when, rows, self._clock()))
        heapq.heappush(self._due.setdefault(delivery.destination, []), when)

    async def release(
        self, delivery: Delivery, when: float | None = None, *, events: Sequence[Event] = ()
    ) -> None:
        rows = self._rows(delivery, events)

        def op(c: sqlite3.Connection) -> None:
            now = self._clock()
            due = now if when is None else when
            settle.retry_at(c, delivery, due, rows, now, counted=False)

        await self._write(op)
        if when is None:
            self._notify(delivery.destination)
        else:
            heapq.heappush(self._due.setdefault(delivery.destination, []), when)

    async def park(
        self, delivery: Delivery, *, events: Sequence[Event] = (), hold_lane: bool = True
    ) -> None:
        rows = self._rows(delivery, events)
        await self._write(lambda c: settle.park(c, delivery, rows, hold_lane, self._clock()))
        self._notify(delivery.destination)  # without hold_lane, its lane goes on

    async def replay(self, selector: Selector) -> int:
        count = await self._write(lambda c: deadletter.replay(c, selector, self._clock()))
        self._notify(*self._wakeups)
        return count

    async def discard(self, selector: Selector, reason: str) -> int:
        return await self._write(lambda c: deadletter.discard(c, selector, reason, self._clock()))

    @contextlib.contextmanager
    def _probe(self) -> Iterator[None]:
        """After the store's last transaction failed (locked by another program, disk
        full, I/O error), new messages try it one at a time; the others are refused at
        once instead of each waiting out the busy timeout. The first commit of any kind
        lets everything in again."""
        failing = self._writer.failing  # None if a commit succeeded meanwhile
        if self._probing and failing is not None:
            raise StoreUnavailable(
                f"the store could not commit just now ({failing}): new messages are refused"
                " until it commits again"
            )
        self._probing = True
        try:
            yield
        finally:
            self._probing = False

    def _check_room(self) -> None:
        """New messages wait while the disk reserve is released (the disk filled up)."""
        if not self._reserve.recovered():
            raise StoreUnavailable(
                "the disk is full: new messages are refused until space returns,"
                " so that stored messages can still be delivered"
            )

    def _notify(self, *destinations: str) -> None:
        for destination in destinations:
            event = self._wakeups.get(destination)
            if event is not None:
                event.set()

    async def wait(self, destination: str, at_most: float) -> None:
        """Return when something may have become claimable at ``destination`` in this
        process (new work, or a retry this process scheduled falling due), or after
        ``at_most`` seconds (work from other processes, expired leases)."""
        event = self._wakeups.setdefault(destination, asyncio.Event())
        due = self._due.get(destination)
        if due:
            now = self._clock()
            while due and due[0] <= now:
                heapq.heappop(due)
                event.set()
            if due:
                at_most = min(at_most, due[0] - now)
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), at_most)
        event.clear()

    async def stats(self) -> list[QueueStats]:
        now = self._clock()
        return await self._read(lambda c: reads.stats(c, now))

    async def find_messages(self, query: MessageQuery) -> list[MessageSummary]:
        return await self._read(lambda c: reads.find_messages(c, query))

    async def journey(self, message_id: str) -> Journey | None:
        return await self._read(lambda c: reads.journey(c, message_id, self._mask))

    async def purge(self, older_than: float) -> int:
        total = 0
        while True:
            purged = await self._write(lambda c: reads.purge(c, older_than))
            total += purged
            if purged == 0:
                return total

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.close)

        def close_reader() -> None:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

        await asyncio.get_running_loop().run_in_executor(self._reader_pool, close_reader)
        self._reader_pool.shutdown()


@dataclass(frozen=True, slots=True)
class _Handing:
    """A delivery a taker reserved room for, to give it once its message is stored."""

    entry: lanes.NewEntry
    taker: Taker
    message: Message
    forward: Forward
