"""Contract: settlements and enqueues made concurrently (a backend may commit them together)
have the same effect as made one by one."""

from __future__ import annotations

import asyncio

from backend_kit import FakeClock, claim, claim_one, entries, ids, new_message, status

from crossdock.bus.base import INTAKE, Backend, Event, Forward, MessageStatus, Step
from crossdock.core.errors import LeaseLost


async def test_concurrent_acks_with_forwards_keep_every_lane_in_order(
    backend: Backend, clock: FakeClock
) -> None:
    sent = [new_message(clock, f"k{i % 5}") for i in range(30)]
    await asyncio.gather(*(backend.enqueue_many([m]) for m in sent))
    delivered: list[str] = []
    for _ in range(50):
        intake = await claim(backend, limit=10)
        target = await claim(backend, "crm", limit=10)
        if not intake and not target:
            break
        forward = [Forward("crm", payload={"n": 1}, events=[Event(Step.MAPPED)])]
        await asyncio.gather(
            *(backend.ack(d, events=[Event(Step.ROUTED)], forward=forward) for d in intake),
            *(backend.ack(d, events=[Event(Step.DELIVERED)]) for d in target),
        )
        delivered += ids(target)
    assert sorted(delivered) == sorted(m.id for m in sent)
    for key in {m.key for m in sent}:
        assert [i for i in delivered if i in {m.id for m in sent if m.key == key}] == [
            m.id for m in sent if m.key == key
        ]
    for m in sent:
        assert await status(backend, m.id) is MessageStatus.DELIVERED
        steps = [(e.step, e.destination) for e in await entries(backend, m.id)]
        assert steps == [
            (Step.RECEIVED, None),
            (Step.ROUTED, INTAKE),
            (Step.MAPPED, "crm"),
            (Step.DELIVERED, "crm"),
        ]


async def test_of_two_concurrent_acks_of_one_delivery_one_is_refused(
    backend: Backend, clock: FakeClock
) -> None:
    m, other = new_message(clock, "a"), new_message(clock, "b")
    await backend.enqueue(m)
    await backend.enqueue(other)
    d, d2 = await claim(backend, limit=2)
    forward = [Forward("crm", events=[Event(Step.MAPPED)])]
    outcomes = await asyncio.gather(
        backend.ack(d, forward=forward),
        backend.ack(d, forward=forward),
        backend.ack(d2),
        return_exceptions=True,
    )
    assert sum(isinstance(o, LeaseLost) for o in outcomes[:2]) == 1
    assert outcomes[2] is None
    assert ids([await claim_one(backend, "crm")]) == [d.message.id]
    assert await claim(backend, "crm") == []
    assert [e.step for e in await entries(backend, d.message.id)].count(Step.MAPPED) == 1
    assert await status(backend, other.id) is MessageStatus.DELIVERED
