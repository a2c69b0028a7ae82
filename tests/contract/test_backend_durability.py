"""Contract: what was stored survives a restart; a full disk loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_kit import (
    FLOW,
    BackendKind,
    FakeClock,
    SmallStorage,
    Stores,
    claim,
    claim_one,
    counts,
    drain,
    entries,
    ids,
    new_message,
    stats_of,
    status,
)

from crossdock.bus.base import Backend, Event, Forward, MessageQuery, MessageStatus, Step
from crossdock.core.errors import LeaseLost, StoreUnavailable


async def _snapshot(backend: Backend, message_ids: list[str]) -> tuple[object, ...]:
    return (
        await backend.stats(),
        await backend.find_messages(MessageQuery(limit=1000)),
        [await backend.journey(i) for i in message_ids],
    )


async def test_everything_stored_survives_a_reopen(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open()
    a1, a2, b1, c1, d1, e1 = (new_message(clock, k) for k in "aabcde")
    for m in (a1, a2, b1, c1, d1, e1):
        await backend.enqueue(m)
    held = {d.message.id: d for d in await claim(backend, limit=10)}
    await backend.park(held[a1.id])  # a2 waits behind it
    await backend.retry_at(held[b1.id], clock() + 60)
    await backend.ack(held[e1.id], forward=[Forward("crm", payload={"mapped": True})])
    await backend.ack(held[d1.id])  # c1 stays in flight
    every = [m.id for m in (a1, a2, b1, c1, d1, e1)]
    before = await _snapshot(backend, every)

    backend = await stores.reopen(backend)
    assert await _snapshot(backend, every) == before
    assert await claim(backend, limit=10) == []  # a2 held, b1 not due, c1 leased
    at_crm = await claim_one(backend, "crm")
    assert (at_crm.message.id, at_crm.payload) == (e1.id, {"mapped": True})
    clock.advance(61)
    assert sorted(ids(await drain(backend))) == sorted([b1.id, c1.id])
    assert counts(await stats_of(backend)) == (1, 0, 0, 1)


async def test_leases_survive_a_reopen_and_then_expire(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open()
    m = new_message(clock)
    await backend.enqueue(m)
    first = await claim_one(backend, lease=30)
    backend = await stores.reopen(backend)
    assert await claim(backend) == []
    clock.advance(31)
    second = await claim_one(backend)
    assert (second.message.id, second.message.attempt) == (m.id, 2)
    with pytest.raises(LeaseLost):
        await backend.ack(first)
    await backend.ack(second)
    assert await status(backend, m.id) is MessageStatus.DELIVERED


async def test_a_lease_held_across_a_reopen_still_settles(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open()
    m = new_message(clock)
    await backend.enqueue(m)
    d = await claim_one(backend)
    backend = await stores.reopen(backend)
    await backend.ack(d)
    assert await status(backend, m.id) is MessageStatus.DELIVERED
    assert await claim(backend) == []


async def test_a_full_disk_refuses_writes_and_loses_nothing(
    kind: BackendKind, clock: FakeClock, tmp_path: Path
) -> None:
    if kind.small_storage is None:
        pytest.skip(f"{kind.name}: no storage here that can be filled")
    with kind.small_storage(tmp_path / "small") as storage:
        backend = await kind.open(storage.directory, clock)
        try:
            await _fill_refuse_recover(backend, storage, clock)
        finally:
            await backend.close()
        storage.check()


async def _fill_refuse_recover(backend: Backend, storage: SmallStorage, clock: FakeClock) -> None:
    stored = {m.id: m for m in (new_message(clock, f"k{i}") for i in range(5))}
    for m in stored.values():
        await backend.enqueue(m)
    held = await claim_one(backend)

    storage.fill()
    refused = None
    for i in range(300):  # the disk is full: some write soon cannot grow the store
        m = new_message(clock, f"big{i}", body={"i": i, "pad": "x" * 4000})
        try:
            await backend.enqueue(m)
        except StoreUnavailable:
            refused = m
            break
        stored[m.id] = m
    assert refused is not None, "the store never ran out of space"
    assert await backend.journey(refused.id) is None  # nothing half stored
    found = await backend.find_messages(MessageQuery(flow=FLOW, limit=1000))
    assert sorted(s.id for s in found) == sorted(stored)
    assert (await stats_of(backend)).depth == len(stored)
    # An ack with a forward too large for what is left: neither half happens.
    big = {"pad": "y" * 100_000}
    forward = [Forward("crm", payload=big, events=[Event(Step.MAPPED)])]
    journal = await entries(backend, held.message.id)
    with pytest.raises(StoreUnavailable):
        await backend.ack(held, forward=forward)
    assert await entries(backend, held.message.id) == journal
    assert (await stats_of(backend, FLOW, "crm")).depth == 0
    assert counts(await stats_of(backend))[:2] == (len(stored), 1)

    # A batch that does not fit stores none of its messages, nor its cursor.
    batch = [new_message(clock, f"poll{i}", body={"pad": "z" * 50_000}) for i in range(3)]
    with pytest.raises(StoreUnavailable):
        await backend.enqueue_many(batch, cursor=("poll:desk", "next"))
    assert await backend.get_cursor("poll:desk") is None
    for m in batch:
        assert await backend.journey(m.id) is None

    storage.free()
    await backend.enqueue_many(batch, cursor=("poll:desk", "next"))
    assert await backend.get_cursor("poll:desk") == "next"
    stored.update((m.id, m) for m in batch)
    result = await backend.enqueue(refused)
    assert (result.message_id, result.duplicate) == (refused.id, False)
    stored[refused.id] = refused
    await backend.ack(held, forward=forward)
    assert (await claim_one(backend, "crm")).payload == big
    rest = await drain(backend)
    assert sorted(ids(rest)) == sorted(set(stored) - {held.message.id})
    for d in rest:
        assert d.message.body == stored[d.message.id].body
