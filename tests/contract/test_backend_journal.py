"""Contract: the journal — journeys, search, status, masking and retention."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from backend_kit import FLOW, FakeClock, Stores, claim, claim_one, drain, new_message, status

from crossdock.bus.base import (
    INTAKE,
    Backend,
    Event,
    Forward,
    MessageQuery,
    MessageStatus,
    Selector,
    Step,
)


async def test_the_journey_records_every_step_in_order(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock, body={"title": "VPN down"})
    await backend.enqueue(m)
    at = [clock()]
    intake = await claim_one(backend)
    mapped = {"summary": "VPN down"}
    clock.advance(1)
    await backend.ack(
        intake,
        events=[Event(Step.ROUTED, {"rule": "to-crm"})],
        forward=[Forward("crm", payload=mapped, events=[Event(Step.MAPPED, payload=mapped)])],
    )
    at += [clock()] * 2
    clock.advance(1)
    first = await claim_one(backend, "crm")
    await backend.retry_at(
        first,
        clock() + 10,
        events=[Event(Step.ATTEMPTED), Event(Step.FAILED, {"error": "503"})],
    )
    at += [clock()] * 2
    clock.advance(11)
    second = await claim_one(backend, "crm")
    await backend.park(
        second,
        events=[Event(Step.ATTEMPTED), Event(Step.FAILED, {"error": "400"}), Event(Step.PARKED)],
    )
    at += [clock()] * 3
    clock.advance(1)
    assert await backend.replay(Selector(message_id=m.id)) == 1
    at += [clock()]
    clock.advance(1)
    third = await claim_one(backend, "crm")
    await backend.ack(
        third, events=[Event(Step.ATTEMPTED), Event(Step.DELIVERED, {"target_id": "CRM-1"})]
    )
    at += [clock()] * 2

    journey = await backend.journey(m.id)
    assert journey is not None
    assert journey.message.id == m.id
    assert journey.message.body == m.body
    assert journey.summary.status is MessageStatus.DELIVERED
    got = [(e.step, e.destination, e.attempt) for e in journey.entries]
    assert got[0][0] is Step.RECEIVED
    assert got[1:] == [
        (Step.ROUTED, INTAKE, 1),
        (Step.MAPPED, "crm", None),
        (Step.ATTEMPTED, "crm", 1),
        (Step.FAILED, "crm", 1),
        (Step.ATTEMPTED, "crm", 2),
        (Step.FAILED, "crm", 2),
        (Step.PARKED, "crm", 2),
        (Step.REPLAYED, "crm", None),
        (Step.ATTEMPTED, "crm", 1),
        (Step.DELIVERED, "crm", 1),
    ]
    assert [e.at for e in journey.entries] == at
    assert journey.entries[2].payload == mapped
    assert journey.entries[4].detail == {"error": "503"}
    assert journey.entries[-1].detail == {"target_id": "CRM-1"}
    assert await backend.journey("no-such-message") is None


async def test_find_messages_filters(backend: Backend, clock: FakeClock) -> None:
    t0 = clock()
    m1 = new_message(clock, "a")
    clock.advance(10)
    m2 = new_message(clock, "b", source="helpdesk", event_type="ticket.updated")
    clock.advance(10)
    m3 = new_message(clock, "a", flow="refunds")
    for m in (m1, m2, m3):
        await backend.enqueue(m)
    held = {d.message.id: d for d in await claim(backend, limit=10)}
    await backend.ack(held[m1.id], forward=[Forward("desk", events=[Event(Step.MAPPED)])])
    await backend.ack(await claim_one(backend, "desk"), events=[Event(Step.DELIVERED)])
    await backend.park(held[m2.id])

    async def find(**query: Any) -> list[str]:
        return [s.id for s in await backend.find_messages(MessageQuery(**query))]

    assert await find() == [m3.id, m2.id, m1.id]  # newest first
    assert await find(message_id=m2.id) == [m2.id]
    assert await find(flow="refunds") == [m3.id]
    assert await find(key="a") == [m3.id, m1.id]
    assert await find(flow=FLOW, key="a") == [m1.id]
    assert await find(endpoint="helpdesk") == [m2.id]  # as the source
    assert await find(endpoint="desk") == [m1.id]  # as a destination
    assert await find(endpoint="shop") == [m3.id, m1.id]
    assert await find(status=MessageStatus.PARKED) == [m2.id]
    assert await find(status=MessageStatus.DELIVERED) == [m1.id]
    assert await find(status=MessageStatus.QUEUED) == [m3.id]
    assert await find(since=t0 + 5) == [m3.id, m2.id]
    assert await find(until=t0 + 15) == [m2.id, m1.id]
    assert await find(since=t0 + 5, until=t0 + 15) == [m2.id]
    assert await find(correlation_id="INC-42") == []

    assert await find(limit=2) == [m3.id, m2.id]
    assert await find(flow="no-such-flow") == []

    [summary] = await backend.find_messages(MessageQuery(message_id=m2.id))
    assert (summary.flow, summary.source, summary.event_type, summary.key) == (
        FLOW,
        "helpdesk",
        "ticket.updated",
        "b",
    )
    assert summary.received_at == m2.received_at
    assert summary.status is MessageStatus.PARKED
    assert summary.correlation_id is None


async def test_find_messages_by_correlation_id(backend: Backend, clock: FakeClock) -> None:
    plain = new_message(clock, "a")
    tied = [replace(new_message(clock, k), correlation_id="INC-42") for k in ("a", "b")]
    other = replace(new_message(clock, "c"), correlation_id="INC-43")
    for m in (plain, *tied, other):
        await backend.enqueue(m)
    found = await backend.find_messages(MessageQuery(correlation_id="INC-42"))
    assert [s.id for s in found] == [tied[1].id, tied[0].id]
    assert {s.correlation_id for s in found} == {"INC-42"}
    [delivery] = [d for d in await claim(backend, limit=10) if d.message.id == other.id]
    assert delivery.message.correlation_id == "INC-43"  # kept through the queue


async def test_status_follows_the_message(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock, "a")
    await backend.enqueue(m)
    assert await status(backend, m.id) is MessageStatus.QUEUED
    d = await claim_one(backend)
    await backend.retry_at(d, clock() + 1)
    assert await status(backend, m.id) is MessageStatus.RETRYING
    clock.advance(2)
    await backend.park(await claim_one(backend))
    assert await status(backend, m.id) is MessageStatus.PARKED
    await backend.replay(Selector(message_id=m.id))
    assert await status(backend, m.id) is MessageStatus.QUEUED
    await backend.ack(await claim_one(backend), forward=[Forward("crm"), Forward("desk")])
    assert await status(backend, m.id) is MessageStatus.QUEUED
    await backend.park(await claim_one(backend, "crm"))
    await backend.ack(await claim_one(backend, "desk"))
    assert await status(backend, m.id) is MessageStatus.PARKED  # one target still parked
    await backend.replay(Selector(message_id=m.id))
    await backend.ack(await claim_one(backend, "crm"))
    assert await status(backend, m.id) is MessageStatus.DELIVERED

    dropped = new_message(clock, "b")
    await backend.enqueue(dropped)
    await backend.ack(await claim_one(backend), events=[Event(Step.FILTERED, {"rule": "p1 only"})])
    assert await status(backend, dropped.id) is MessageStatus.FILTERED

    thrown = new_message(clock, "c")
    await backend.enqueue(thrown)
    await backend.park(await claim_one(backend))
    await backend.discard(Selector(message_id=thrown.id), "test data")
    assert await status(backend, thrown.id) is MessageStatus.DISCARDED


async def test_masked_fields_never_reach_the_journal(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open(mask=["password"])
    body = {
        "user": "ann",
        "password": "secret-top",
        "profile": {"password": "secret-deep", "logins": [{"password": "secret-in-list"}]},
    }
    m = new_message(clock, body=body)
    await backend.enqueue(
        m, events=[Event(Step.MAPPED, payload={"auth": {"password": "secret-event"}})]
    )
    d = await claim_one(backend)
    assert d.message.body == body  # deliveries carry the real values
    mapped = {"login": "ann", "password": "secret-mapped"}
    await backend.ack(
        d,
        events=[Event(Step.ROUTED, payload=[{"nested": {"password": "secret-routed"}}])],
        forward=[Forward("crm", payload=mapped, events=[Event(Step.MAPPED, payload=mapped)])],
    )
    assert (await claim_one(backend, "crm")).payload == mapped

    journey = await backend.journey(m.id)
    assert journey is not None
    shown = repr(journey)
    for secret in ("secret-top", "secret-deep", "secret-in-list", "secret-event"):
        assert secret not in shown
    assert "secret-routed" not in shown
    assert "secret-mapped" not in shown
    assert journey.message.body["user"] == "ann"  # only the named field is hidden
    assert "password" in journey.message.body["profile"]["logins"][0]
    payloads = [e.payload for e in journey.entries if e.payload is not None]
    assert len(payloads) == 3
    assert "password" in payloads[0]["auth"]


async def test_purge_removes_only_settled_messages_older_than_the_cut(
    backend: Backend, clock: FakeClock
) -> None:
    t0 = clock()
    done, dropped, thrown, parked, waiting = (new_message(clock, k) for k in "abcde")
    for m in (done, dropped, thrown, parked, waiting):
        await backend.enqueue(m)
    held = {d.message.id: d for d in await claim(backend, limit=4)}
    assert waiting.id not in held
    await backend.ack(held[done.id])
    await backend.ack(held[dropped.id], events=[Event(Step.FILTERED)])
    await backend.park(held[thrown.id])
    await backend.discard(Selector(message_id=thrown.id), "junk")
    await backend.park(held[parked.id])
    clock.advance(100)
    recent = new_message(clock, "f")
    await backend.enqueue(recent, "crm")
    await backend.ack(await claim_one(backend, "crm"))

    assert await backend.purge(t0 + 50) == 3
    for m in (done, dropped, thrown):
        assert await backend.journey(m.id) is None
        assert await backend.find_messages(MessageQuery(message_id=m.id)) == []
    for m in (parked, waiting, recent):
        assert await backend.journey(m.id) is not None
    assert await backend.purge(t0 + 50) == 0
    assert await backend.replay(Selector(message_id=parked.id)) == 1
    assert sorted(d.message.id for d in await drain(backend)) == sorted([parked.id, waiting.id])
