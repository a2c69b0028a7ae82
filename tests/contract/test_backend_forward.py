"""Contract: acknowledging with forward deliveries, and deduplication at intake."""

from __future__ import annotations

import asyncio

import pytest
from backend_kit import (
    FLOW,
    FakeClock,
    claim,
    claim_one,
    drain,
    entries,
    ids,
    new_message,
    stats_of,
    status,
)

from crossdock.bus.base import (
    INTAKE,
    Backend,
    Event,
    Forward,
    MessageQuery,
    MessageStatus,
    Step,
)
from crossdock.core.errors import LeaseLost


async def test_ack_with_forward_moves_the_message_to_its_targets(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock, body={"title": "Printer on fire", "priority": "1 - Critical"})
    await backend.enqueue(m)
    d = await claim_one(backend)
    mapped = {"short_description": "Printer on fire", "urgency": 1}
    await backend.ack(
        d,
        events=[Event(Step.ROUTED, {"rule": "all tickets"})],
        forward=[
            Forward("crm", payload=mapped, events=[Event(Step.MAPPED, payload=mapped)]),
            Forward("desk", events=[Event(Step.MAPPED)]),
        ],
    )
    assert await claim(backend, limit=10) == []
    assert (await stats_of(backend)).depth == 0
    assert (await stats_of(backend, FLOW, "crm")).depth == 1
    assert (await stats_of(backend, FLOW, "desk")).depth == 1

    at_crm = await claim_one(backend, "crm")
    assert at_crm.payload == mapped  # delivered as given
    assert at_crm.message == m.with_attempt(1)
    at_desk = await claim_one(backend, "desk")
    assert at_desk.payload == m.body  # no payload: the message body
    journal = await entries(backend, m.id)
    assert journal[0].step is Step.RECEIVED
    assert [(e.step, e.destination) for e in journal[1:]] == [
        (Step.ROUTED, INTAKE),
        (Step.MAPPED, "crm"),
        (Step.MAPPED, "desk"),
    ]
    assert journal[2].payload == mapped

    assert await status(backend, m.id) is MessageStatus.QUEUED
    await backend.ack(at_crm)
    assert await status(backend, m.id) is MessageStatus.QUEUED  # desk still open
    await backend.ack(at_desk)
    assert await status(backend, m.id) is MessageStatus.DELIVERED


async def test_a_refused_ack_forwards_nothing(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    first = await claim_one(backend, lease=10)
    clock.advance(11)
    second = await claim_one(backend)
    before = await entries(backend, m.id)
    with pytest.raises(LeaseLost):
        await backend.ack(first, forward=[Forward("crm", events=[Event(Step.MAPPED)])])
    assert await entries(backend, m.id) == before
    assert await claim(backend, "crm", limit=10) == []
    assert (await stats_of(backend, FLOW, "crm")).depth == 0

    await backend.ack(second, forward=[Forward("crm")])
    assert ids(await drain(backend, "crm")) == [m.id]


async def test_forward_keeps_key_order_and_honours_available_at(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    later = clock() + 30
    for _ in range(2):
        await backend.ack(await claim_one(backend), forward=[Forward("crm", available_at=later)])
    assert await claim(backend, "crm", limit=10) == []
    clock.advance(31)
    assert ids(await drain(backend, "crm")) == [a1.id, a2.id]


async def test_a_repeated_dedup_key_stores_nothing_new(backend: Backend, clock: FakeClock) -> None:
    first, again = new_message(clock), new_message(clock)
    result = await backend.enqueue(first, dedup_key="evt-1")
    assert (result.message_id, result.duplicate) == (first.id, False)
    result = await backend.enqueue(again, dedup_key="evt-1")
    assert (result.message_id, result.duplicate) == (first.id, True)
    assert await backend.journey(again.id) is None
    assert [s.id for s in await backend.find_messages(MessageQuery(flow=FLOW))] == [first.id]
    assert (await stats_of(backend)).depth == 1

    elsewhere = new_message(clock, source="another-system")
    result = await backend.enqueue(elsewhere, dedup_key="evt-1")  # keys are per source
    assert (result.message_id, result.duplicate) == (elsewhere.id, False)

    assert sorted(ids(await drain(backend))) == sorted([first.id, elsewhere.id])
    result = await backend.enqueue(again, dedup_key="evt-1")  # still known once delivered
    assert (result.message_id, result.duplicate) == (first.id, True)
    assert await claim(backend) == []


async def test_concurrent_duplicates_store_one_message(backend: Backend, clock: FakeClock) -> None:
    copies = [new_message(clock) for _ in range(5)]
    results = await asyncio.gather(*(backend.enqueue(m, dedup_key="evt-7") for m in copies))
    assert len({r.message_id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert (await stats_of(backend)).depth == 1
