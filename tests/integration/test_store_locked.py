"""A store that another program keeps locked: new messages are refused at once, one at a
time tries again, and the first commit lets everything in again."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from crossdock.bus import SqliteBackend
from crossdock.bus.base import Delivery, Event, Forward, Routed, Step
from crossdock.core.envelope import Message
from crossdock.core.errors import StoreUnavailable


def order(n: int) -> Message:
    return Message.new(flow="orders", source="shop", event_type="o", body={"n": n}, key=f"k{n}")


async def _timed(backend: SqliteBackend, n: int) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        await backend.enqueue(order(n))
    except StoreUnavailable as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


async def test_a_locked_store_refuses_new_messages_at_once_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.db"
    backend = await SqliteBackend.open(path, busy_timeout_ms=600)
    outside = sqlite3.connect(path, isolation_level=None)
    try:
        await backend.enqueue(order(0))
        outside.execute("BEGIN IMMEDIATE")  # e.g. an operator's sqlite3 shell, mid-write

        first = await asyncio.gather(*(_timed(backend, n) for n in range(1, 5)))
        assert all(isinstance(e, StoreUnavailable) for _, e in first)
        assert all(waited >= 0.5 for waited, _ in first)  # together, one busy timeout

        then = await asyncio.gather(*(_timed(backend, n) for n in range(5, 10)))
        assert all(isinstance(e, StoreUnavailable) for _, e in then)
        waits = sorted(waited for waited, _ in then)
        assert waits[-1] >= 0.5  # one tried the store again
        assert waits[-2] < 0.2, waits  # the others were refused at once
        refused = next(e for w, e in then if w < 0.2)
        assert "could not commit just now" in str(refused)
        assert "locked" in str(refused)

        outside.execute("ROLLBACK")
        again = await asyncio.gather(*(_timed(backend, n) for n in range(10, 15)))
        assert sum(e is None for _, e in again) >= 1  # the one that tries gets through
        after = await asyncio.gather(*(_timed(backend, n) for n in range(15, 20)))
        assert [e for _, e in after] == [None] * 5
    finally:
        outside.close()
        await backend.close()


async def test_one_message_at_a_time_still_reaches_a_store_that_failed(tmp_path: Path) -> None:
    """Each call alone is the one that tries again: nothing is refused without trying."""
    path = tmp_path / "crossdock.db"
    backend = await SqliteBackend.open(path, busy_timeout_ms=300)
    outside = sqlite3.connect(path, isolation_level=None)
    try:
        outside.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            await backend.enqueue(order(1))
        outside.execute("ROLLBACK")
        await backend.enqueue(order(2))  # the next one alone is stored
    finally:
        outside.close()
        await backend.close()


class Hands:
    """A taker that records what it is given."""

    worker = "hands-1"
    lease_seconds = 30.0

    def __init__(self) -> None:
        self.taken: list[Delivery] = []
        self.given_back = 0

    def reserve(self) -> bool:
        return True

    def take(self, delivery: Delivery) -> None:
        self.taken.append(delivery)

    def unreserve(self) -> None:
        self.given_back += 1


async def test_a_delivery_committed_after_its_caller_gave_up_is_still_handed_over(
    tmp_path: Path,
) -> None:
    """The webhook's task is cancelled while its commit waits for the lock; the commit
    then goes through: its delivery reaches the worker it was leased to, not a lease that
    nobody holds."""
    path = tmp_path / "crossdock.db"
    backend = await SqliteBackend.open(path, busy_timeout_ms=5000)
    outside = sqlite3.connect(path, isolation_level=None)
    hands = Hands()
    backend.hand_to("crm", hands)
    try:
        m = order(1)
        routed = Routed([Event(Step.ROUTED)], [Forward("crm")])
        outside.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(backend.enqueue_many([m], routed=[routed]))
        await asyncio.sleep(0.2)  # its commit waits for the lock
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        outside.execute("ROLLBACK")
        for _ in range(100):
            if hands.taken or hands.given_back:
                break
            await asyncio.sleep(0.02)
        assert [d.message.id for d in hands.taken] == [m.id]
        assert hands.given_back == 0
        assert await backend.claim("crm", worker="other", lease_seconds=5) == []
        await backend.ack(hands.taken[0])
    finally:
        outside.close()
        await backend.close()
