"""Contract: parking (holding or skipping the lane), replay and discard."""

from __future__ import annotations

import pytest
from backend_kit import (
    FLOW,
    FakeClock,
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

from crossdock.bus.base import INTAKE, Backend, Event, MessageStatus, Selector, Step

PARKED = [Event(Step.PARKED, {"reason": "400 Bad Request"})]


async def test_a_parked_delivery_holds_its_lane_and_nothing_else(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2, b1 = new_message(clock, "a"), new_message(clock, "a"), new_message(clock, "b")
    a_crm = new_message(clock, "a")
    for m in (a1, a2, b1):
        await backend.enqueue(m)
    await backend.enqueue(a_crm, "crm")
    held = {d.message.id: d for d in await claim(backend, limit=10)}
    await backend.park(held[a1.id], events=PARKED)
    await backend.ack(held[b1.id])
    assert await status(backend, a1.id) is MessageStatus.PARKED

    assert await claim(backend, limit=10) == []  # a2 waits behind the parked a1
    b2 = new_message(clock, "b")
    await backend.enqueue(b2)
    assert ids(await claim(backend, limit=10)) == [b2.id]  # other keys go on
    assert ids(await claim(backend, "crm", limit=10)) == [a_crm.id]  # other destinations too
    assert counts(await stats_of(backend)) == (2, 1, 0, 1)
    [parked] = [e for e in await entries(backend, a1.id) if e.step is Step.PARKED]
    assert (parked.destination, parked.attempt) == (INTAKE, 1)


async def test_a_parked_delivery_that_skips_lets_its_lane_go_on(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2, a3 = (new_message(clock, "a") for _ in range(3))
    for m in (a1, a2, a3):
        await backend.enqueue(m)
    await backend.park(await claim_one(backend), events=PARKED, hold_lane=False)
    assert await status(backend, a1.id) is MessageStatus.PARKED
    assert ids(await drain(backend)) == [a2.id, a3.id]
    assert counts(await stats_of(backend)) == (0, 0, 0, 1)


async def test_replay_of_one_message_puts_it_back_first_with_fresh_attempts(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    await backend.retry_at(await claim_one(backend), clock() + 5)
    clock.advance(6)
    second = await claim_one(backend)
    assert second.message.attempt == 2
    await backend.park(second, events=PARKED)

    assert await backend.replay(Selector(message_id=a1.id)) == 1
    assert await status(backend, a1.id) is MessageStatus.QUEUED
    replayed = [e for e in await entries(backend, a1.id) if e.step is Step.REPLAYED]
    assert [e.destination for e in replayed] == [INTAKE]
    again = await claim_one(backend)
    assert (again.message.id, again.message.attempt) == (a1.id, 1)
    await backend.ack(again)
    assert ids(await drain(backend)) == [a2.id]
    assert await status(backend, a1.id) is MessageStatus.DELIVERED


async def test_replay_of_a_flow_restores_the_original_order(
    backend: Backend, clock: FakeClock
) -> None:
    x1, x2, x3, y1 = (new_message(clock, k) for k in ("x", "x", "x", "y"))
    z1 = new_message(clock, "x", flow="refunds")
    for m in (x1, x2, x3, y1, z1):
        await backend.enqueue(m)
    for d in await claim(backend, limit=10):  # x1, y1, z1
        await backend.park(d, events=PARKED, hold_lane=False)
    await backend.park(await claim_one(backend), hold_lane=False)  # x2
    assert ids(await drain(backend)) == [x3.id]
    # Park x1 again, now after x2: replay must still follow the enqueue order.
    assert await backend.replay(Selector(message_id=x1.id)) == 1
    await backend.park(await claim_one(backend), hold_lane=False)

    assert await backend.replay(Selector(flow=FLOW)) == 3
    delivered = ids(await drain(backend))
    assert sorted(delivered) == sorted([x1.id, x2.id, y1.id])
    assert [i for i in delivered if i != y1.id] == [x1.id, x2.id]
    assert counts(await stats_of(backend, "refunds")) == (0, 0, 0, 1)


async def test_replay_by_destination_and_by_several_fields(
    backend: Backend, clock: FakeClock
) -> None:
    at_intake, at_crm = new_message(clock, "a"), new_message(clock, "b")
    refund_at_crm = new_message(clock, "c", flow="refunds")
    await backend.enqueue(at_intake)
    await backend.enqueue(at_crm, "crm")
    await backend.enqueue(refund_at_crm, "crm")
    await backend.park(await claim_one(backend))
    for d in await claim(backend, "crm", limit=10):
        await backend.park(d)

    assert await backend.replay(Selector(flow=FLOW, destination="crm")) == 1
    assert ids(await claim(backend, "crm", limit=10)) == [at_crm.id]
    assert await backend.replay(Selector(destination="crm")) == 1
    assert ids(await claim(backend, "crm", limit=10)) == [refund_at_crm.id]
    assert await claim(backend, limit=10) == []
    assert counts(await stats_of(backend)) == (0, 0, 0, 1)


async def test_replay_or_discard_of_nothing_returns_zero(
    backend: Backend, clock: FakeClock
) -> None:
    waiting, flying = new_message(clock, "a"), new_message(clock, "b")
    await backend.enqueue(flying)
    in_flight = await claim_one(backend)
    await backend.enqueue(waiting)
    assert await backend.replay(Selector(flow="no-such-flow")) == 0
    assert await backend.replay(Selector(message_id=waiting.id)) == 0
    assert await backend.replay(Selector(message_id=flying.id)) == 0
    assert await backend.discard(Selector(message_id=waiting.id), "nothing parked") == 0
    assert await backend.discard(Selector(destination="crm"), "nothing parked") == 0
    assert counts(await stats_of(backend)) == (2, 1, 0, 0)
    await backend.ack(in_flight)  # the replay did not touch its lease
    with pytest.raises(ValueError, match="selector"):
        Selector()


async def test_discard_removes_the_delivery_and_releases_its_lane(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    await backend.park(await claim_one(backend), events=PARKED)
    assert await claim(backend) == []

    reason = "duplicate of ticket 42"
    assert await backend.discard(Selector(message_id=a1.id), reason) == 1
    assert await status(backend, a1.id) is MessageStatus.DISCARDED
    last = (await entries(backend, a1.id))[-1]
    assert (last.step, last.destination, last.detail.get("reason")) == (
        Step.DISCARDED,
        INTAKE,
        reason,
    )
    assert counts(await stats_of(backend)) == (1, 0, 0, 0)
    assert ids(await drain(backend)) == [a2.id]  # the lane goes on
    assert await backend.replay(Selector(message_id=a1.id)) == 0  # gone for good


async def test_discard_by_flow_counts_every_parked_delivery(
    backend: Backend, clock: FakeClock
) -> None:
    keep = new_message(clock, "z", flow="refunds")
    batch = [new_message(clock, k) for k in ("a", "b", "c")]
    for m in [*batch, keep]:
        await backend.enqueue(m)
    for d in await claim(backend, limit=10):
        await backend.park(d)
    assert await backend.discard(Selector(flow=FLOW), "bad export") == 3
    for m in batch:
        assert await status(backend, m.id) is MessageStatus.DISCARDED
    assert await status(backend, keep.id) is MessageStatus.PARKED


@pytest.mark.parametrize("then", ["retry", "park", "lease expiry"])
async def test_a_replayed_delivery_goes_before_a_later_one_that_was_in_flight(
    backend: Backend, clock: FakeClock, then: str
) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    await backend.park(await claim_one(backend), hold_lane=False)
    later = await claim_one(backend, lease=10)
    assert later.message.id == a2.id
    assert await backend.replay(Selector(message_id=a1.id)) == 1  # back before a2
    if then == "retry":
        await backend.retry_at(later, clock())  # due again at once
    elif then == "park":
        await backend.park(later)  # holds the lane, but only for what comes after a2
    else:
        clock.advance(11)
    first = await claim_one(backend)
    assert (first.message.id, first.message.attempt) == (a1.id, 1)
    await backend.ack(first)
    if then == "park":
        assert await claim(backend) == []
    else:
        assert ids(await drain(backend)) == [a2.id]
