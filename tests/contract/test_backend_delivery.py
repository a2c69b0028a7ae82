"""Contract: at-least-once delivery, leases, per-key order and scheduled retries."""

from __future__ import annotations

import asyncio
import random

import pytest
from backend_kit import (
    FakeClock,
    claim,
    claim_one,
    counts,
    entries,
    ids,
    new_message,
    stats_of,
    status,
    steps,
)

from crossdock.bus.base import INTAKE, Backend, Event, MessageStatus, Step
from crossdock.core.errors import LeaseLost


async def test_every_message_is_delivered_and_the_queue_empties(
    backend: Backend, clock: FakeClock
) -> None:
    sent = {m.id: m for m in (new_message(clock, f"k{i % 7}") for i in range(40))}
    for m in sent.values():
        result = await backend.enqueue(m)
        assert (result.message_id, result.duplicate) == (m.id, False)
    seen: list[str] = []
    for _ in range(100):
        got = await claim(backend, limit=5)
        if not got:
            break
        for d in got:
            assert d.destination == INTAKE
            assert d.message == sent[d.message.id].with_attempt(1)
            assert d.payload == sent[d.message.id].body
            await backend.ack(d)
        seen += ids(got)
    assert sorted(seen) == sorted(sent)
    assert await claim(backend, limit=5) == []
    assert counts(await stats_of(backend)) == (0, 0, 0, 0)
    for message_id in sent:
        assert await status(backend, message_id) is MessageStatus.DELIVERED


async def test_a_claim_that_is_never_acknowledged_is_not_lost(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    await claim_one(backend, lease=10)  # the worker dies holding it
    assert await claim(backend, worker="worker-2") == []
    assert counts(await stats_of(backend)) == (1, 1, 0, 0)
    clock.advance(11)
    again = await claim_one(backend)
    assert again.message.id == m.id
    await backend.ack(again)
    assert await claim(backend) == []
    assert await status(backend, m.id) is MessageStatus.DELIVERED


async def test_an_expired_lease_redelivers_the_same_message(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    first = await claim_one(backend, lease=10)
    assert first.message.attempt == 1
    clock.advance(9.5)
    assert await claim(backend, worker="worker-2") == []
    clock.advance(1)
    [second] = await claim(backend, worker="worker-2")
    assert second.message.id == m.id
    assert second.message.attempt == 2
    assert second.lease != first.lease
    redelivered = [e for e in await entries(backend, m.id) if e.step is Step.REDELIVERED]
    assert [(e.destination, e.attempt) for e in redelivered] == [(INTAKE, 2)]

    before = await entries(backend, m.id)
    failed = [Event(Step.FAILED, {"error": "too late"})]
    with pytest.raises(LeaseLost):
        await backend.ack(first, events=failed)
    with pytest.raises(LeaseLost):
        await backend.retry_at(first, clock() + 5, events=failed)
    with pytest.raises(LeaseLost):
        await backend.park(first, events=failed)
    assert await entries(backend, m.id) == before  # a refused settle records nothing
    assert await status(backend, m.id) is MessageStatus.QUEUED

    await backend.ack(second)
    assert await status(backend, m.id) is MessageStatus.DELIVERED
    with pytest.raises(LeaseLost):
        await backend.ack(second)  # already settled


async def test_an_expired_lease_not_taken_over_can_still_settle(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock)
    await backend.enqueue(m)
    d = await claim_one(backend, lease=10)
    clock.advance(60)
    await backend.ack(d)
    assert await claim(backend) == []
    assert await status(backend, m.id) is MessageStatus.DELIVERED
    assert Step.REDELIVERED not in await steps(backend, m.id)


async def test_concurrent_claimers_keep_per_key_order(backend: Backend, clock: FakeClock) -> None:
    rng = random.Random(7)
    keys = ["a", "b", "c", "d", "e"]
    sent: dict[str, list[str]] = {k: [] for k in keys}
    for _ in range(60):
        m = new_message(clock, rng.choice(keys))
        await backend.enqueue(m)
        sent[m.key].append(m.id)
    delivered: dict[str, list[str]] = {k: [] for k in keys}
    in_flight: set[str] = set()

    async def worker(name: str) -> None:
        for _ in range(300):
            got = await claim(backend, limit=3, worker=name)
            if not got and sum(map(len, delivered.values())) == 60:
                return
            for d in got:
                assert d.message.key not in in_flight, f"lane {d.message.key} handed out twice"
                in_flight.add(d.message.key)
            await asyncio.sleep(0)  # let the other workers claim while these are held
            for d in got:
                delivered[d.message.key].append(d.message.id)
                in_flight.remove(d.message.key)  # before the ack: the lane is ours until then
                await backend.ack(d)

    await asyncio.gather(*(worker(f"worker-{i}") for i in range(4)))
    assert delivered == sent


async def test_one_claim_takes_at_most_one_delivery_per_lane(
    backend: Backend, clock: FakeClock
) -> None:
    a = [new_message(clock, "a") for _ in range(3)]
    b = [new_message(clock, "b") for _ in range(2)]
    for m in [*a, *b]:
        await backend.enqueue(m)
    got = await claim(backend, limit=10)
    assert sorted(ids(got)) == sorted([a[0].id, b[0].id])


async def test_a_lane_in_flight_is_skipped_and_other_lanes_are_not(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2 = new_message(clock, "a"), new_message(clock, "a")
    await backend.enqueue(a1)
    await backend.enqueue(a2)
    first = await claim_one(backend)
    assert first.message.id == a1.id
    b1 = new_message(clock, "b")
    await backend.enqueue(b1)
    other = await claim(backend, limit=10, worker="worker-2")
    assert ids(other) == [b1.id]
    assert await claim(backend, limit=10, worker="worker-2") == []
    await backend.ack(first)
    assert ids(await claim(backend, limit=10)) == [a2.id]


async def test_retry_at_delays_the_delivery_and_its_lane_only(
    backend: Backend, clock: FakeClock
) -> None:
    a1, a2, b1 = new_message(clock, "a"), new_message(clock, "a"), new_message(clock, "b")
    for m in (a1, a2, b1):
        await backend.enqueue(m)
    held = {d.message.id: d for d in await claim(backend, limit=10)}
    assert sorted(held) == sorted([a1.id, b1.id])
    await backend.ack(held[b1.id])
    first = held[a1.id]
    when = clock() + 60
    await backend.retry_at(first, when, events=[Event(Step.FAILED, {"error": "timeout"})])
    assert await status(backend, a1.id) is MessageStatus.RETRYING

    assert await claim(backend, limit=10) == []  # a1 is not due; a2 waits behind it
    b2 = new_message(clock, "b")
    await backend.enqueue(b2)
    other = await claim(backend, limit=10)
    assert ids(other) == [b2.id]  # other lanes are not blocked
    await backend.ack(other[0])

    clock.advance(59)
    assert await claim(backend, limit=10) == []
    clock.advance(2)
    again = await claim_one(backend)
    assert (again.message.id, again.message.attempt) == (a1.id, 2)
    assert again.message.body == a1.body
    failed = [e for e in await entries(backend, a1.id) if e.step is Step.FAILED]
    assert [(e.destination, e.attempt, e.detail) for e in failed] == [
        (INTAKE, 1, {"error": "timeout"})
    ]
    with pytest.raises(LeaseLost):
        await backend.ack(first)  # retry_at settled that lease
    await backend.ack(again)
    after = await claim_one(backend)
    assert (after.message.id, after.message.attempt) == (a2.id, 1)


async def test_keys_of_any_text_keep_their_lanes(backend: Backend, clock: FakeClock) -> None:
    """Keys are matched as text wherever the store finds a lane (claims, acks, replays)."""
    keys = ["a\nb", "tab\there", "\x01\x1f", 'quote"s', "ü€😀", "x" * 5000, "", " "]
    first = [new_message(clock, key) for key in keys]
    second = [new_message(clock, key) for key in keys]
    for m in first + second:
        await backend.enqueue(m)
    got = await claim(backend, limit=len(keys) * 2)
    assert sorted(ids(got)) == sorted(m.id for m in first)  # one per lane
    await asyncio.gather(*(backend.ack(d) for d in got))
    again = await claim(backend, limit=len(keys) * 2)
    assert sorted(ids(again)) == sorted(m.id for m in second)  # each lane moved on
    await asyncio.gather(*(backend.ack(d) for d in again))
    assert counts(await stats_of(backend)) == (0, 0, 0, 0)


def test_a_key_cannot_hold_a_nul_character(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="NUL"):
        new_message(clock, "a\x00b")
