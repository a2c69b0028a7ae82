"""Contract: queue statistics per (flow, destination) at every stage of a delivery."""

from __future__ import annotations

import pytest
from backend_kit import FLOW, FakeClock, claim, claim_one, counts, drain, new_message, stats_of

from crossdock.bus.base import Backend, Forward, Selector


async def test_stats_follow_each_stage(backend: Backend, clock: FakeClock) -> None:
    a1 = new_message(clock, "a")
    await backend.enqueue(a1)
    clock.advance(5)
    a2, b1 = new_message(clock, "a"), new_message(clock, "b")
    await backend.enqueue(a2)
    await backend.enqueue(b1)
    r1 = new_message(clock, "r", flow="refunds")
    await backend.enqueue(r1)
    clock.advance(5)

    s = await stats_of(backend)
    assert counts(s) == (3, 0, 0, 0)
    assert s.oldest_age == pytest.approx(10)
    refunds = await stats_of(backend, "refunds")
    assert counts(refunds) == (1, 0, 0, 0)
    assert refunds.oldest_age == pytest.approx(5)

    held = {d.message.id: d for d in await claim(backend, limit=10)}
    assert counts(await stats_of(backend)) == (3, 2, 0, 0)
    assert counts(await stats_of(backend, "refunds")) == (1, 1, 0, 0)
    await backend.ack(held[r1.id])
    assert counts(await stats_of(backend, "refunds")) == (0, 0, 0, 0)

    await backend.retry_at(held[b1.id], clock() + 60)
    assert counts(await stats_of(backend)) == (3, 1, 1, 0)

    await backend.park(held[a1.id])
    s = await stats_of(backend)
    assert counts(s) == (2, 0, 1, 1)
    assert s.oldest_age == pytest.approx(5)  # the parked a1 no longer counts

    clock.advance(61)
    retried = await claim_one(backend)
    assert retried.message.id == b1.id
    assert counts(await stats_of(backend)) == (2, 1, 0, 1)
    await backend.ack(retried, forward=[Forward("crm")])
    assert counts(await stats_of(backend)) == (1, 0, 0, 1)
    crm = await stats_of(backend, FLOW, "crm")
    assert counts(crm) == (1, 0, 0, 0)
    assert crm.oldest_age == pytest.approx(0)

    assert await backend.replay(Selector(message_id=a1.id)) == 1
    assert counts(await stats_of(backend)) == (2, 0, 0, 0)
    await drain(backend)
    await drain(backend, "crm")
    for destination in ("intake", "crm"):
        s = await stats_of(backend, FLOW, destination)
        assert counts(s) == (0, 0, 0, 0)
        assert s.oldest_age is None


async def test_an_expired_lease_is_no_longer_in_flight(backend: Backend, clock: FakeClock) -> None:
    await backend.enqueue(new_message(clock))
    await claim_one(backend, lease=10)
    assert counts(await stats_of(backend)) == (1, 1, 0, 0)
    clock.advance(11)
    assert counts(await stats_of(backend)) == (1, 0, 0, 0)
