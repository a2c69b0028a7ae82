"""Contract: batches with cursors, giving deliveries back untried, and waiting for work."""

from __future__ import annotations

import asyncio

import pytest
from backend_kit import (
    SOURCE,
    FakeClock,
    Stores,
    claim,
    claim_one,
    drain,
    ids,
    new_message,
    stats_of,
    status,
    steps,
)

from crossdock.bus.base import INTAKE, Backend, Forward, MessageStatus, Selector, Step
from crossdock.core.errors import LeaseLost


async def test_enqueue_many_stores_the_batch_and_its_cursor(
    backend: Backend, clock: FakeClock
) -> None:
    batch = [new_message(clock, k) for k in ("a", "a", "b")]
    cursor = {"since": "2026-11-01T00:00:00Z", "page": 2}
    results = await backend.enqueue_many(batch, cursor=("poll:desk", cursor))
    assert [(r.message_id, r.duplicate) for r in results] == [(m.id, False) for m in batch]
    assert await backend.get_cursor("poll:desk") == cursor
    assert await backend.get_cursor("poll:elsewhere") is None
    for m in batch:
        assert (await steps(backend, m.id))[0] is Step.RECEIVED
    delivered = ids(await drain(backend))
    assert sorted(delivered) == sorted(m.id for m in batch)
    assert [i for i in delivered if i != batch[2].id] == [batch[0].id, batch[1].id]

    await backend.enqueue_many([new_message(clock, "c")], cursor=("poll:desk", {"page": 3}))
    assert await backend.get_cursor("poll:desk") == {"page": 3}


async def test_a_cursor_survives_a_reopen(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open()
    await backend.enqueue_many([new_message(clock)], cursor=("poll:desk", [1, "two"]))
    backend = await stores.reopen(backend)
    assert await backend.get_cursor("poll:desk") == [1, "two"]


async def test_enqueue_many_with_a_seen_delivery_id_stores_nothing(
    backend: Backend, clock: FakeClock
) -> None:
    first = [new_message(clock, "a"), new_message(clock, "b", flow="refunds")]
    stored = await backend.enqueue_many(first, dedup=(SOURCE, "delivery-1"))
    assert not any(r.duplicate for r in stored)
    again = [new_message(clock, "a"), new_message(clock, "b", flow="refunds")]
    repeated = await backend.enqueue_many(
        again, dedup=(SOURCE, "delivery-1"), cursor=("poll:desk", 9)
    )
    assert all(r.duplicate for r in repeated)
    assert sorted(r.message_id for r in repeated) == sorted(m.id for m in first)
    for m in again:
        assert await backend.journey(m.id) is None
    assert await backend.get_cursor("poll:desk") is None  # nothing at all was stored
    assert (await stats_of(backend)).depth == 1
    assert (await stats_of(backend, "refunds")).depth == 1


async def test_release_gives_a_delivery_back_untried(backend: Backend, clock: FakeClock) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    first = await claim_one(backend)
    await backend.release(first)
    second = await claim_one(backend)
    assert (second.message.id, second.message.attempt) == (a1.id, 1)  # not counted

    await backend.release(second, clock() + 30)
    assert await claim(backend, limit=10) == []  # not due yet, and a2 waits behind it
    assert await status(backend, a1.id) is MessageStatus.QUEUED
    with pytest.raises(LeaseLost):
        await backend.release(second)  # already given back
    clock.advance(31)
    third = await claim_one(backend)
    assert (third.message.id, third.message.attempt) == (a1.id, 1)
    await backend.ack(third)
    assert ids(await drain(backend)) == [a2.id]


async def test_wait_returns_by_its_deadline(backend: Backend) -> None:
    await asyncio.wait_for(backend.wait(INTAKE, 0.05), timeout=5)


async def test_wait_wakes_up_on_an_enqueue(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock)
    await backend.wait(INTAKE, 0)  # forget what came before
    waiter = asyncio.create_task(backend.wait(INTAKE, 60))
    await asyncio.sleep(0)  # let it start waiting
    await backend.enqueue(m)
    await asyncio.wait_for(waiter, timeout=5)  # long before its 60 s
    assert ids(await claim(backend)) == [m.id]


async def test_wait_wakes_up_on_a_forward(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    held = await claim_one(backend)
    await backend.wait("crm", 0)
    waiter = asyncio.create_task(backend.wait("crm", 60))
    await asyncio.sleep(0)
    await backend.ack(held, forward=[Forward("crm")])
    await asyncio.wait_for(waiter, timeout=5)
    assert ids(await claim(backend, "crm")) == [m.id]


async def test_wait_wakes_up_on_a_replay(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    await backend.park(await claim_one(backend))
    await backend.wait(INTAKE, 0)
    waiter = asyncio.create_task(backend.wait(INTAKE, 60))
    await asyncio.sleep(0)
    assert await backend.replay(Selector(message_id=m.id)) == 1
    await asyncio.wait_for(waiter, timeout=5)
    assert ids(await claim(backend)) == [m.id]


async def test_wait_wakes_up_when_a_retry_falls_due(backend: Backend, clock: FakeClock) -> None:
    """A retry scheduled in this process wakes its destination's waiter when it falls due,
    not at the waiter's next poll."""
    m = new_message(clock)
    await backend.enqueue(m)
    await backend.retry_at(await claim_one(backend), clock.now + 0.2)
    await backend.wait(INTAKE, 0)
    await asyncio.wait_for(backend.wait(INTAKE, 60), timeout=5)  # by 0.2 s, not 60
    clock.advance(0.2)
    await asyncio.wait_for(backend.wait(INTAKE, 60), timeout=5)  # due now: at once
    assert ids(await claim(backend)) == [m.id]
