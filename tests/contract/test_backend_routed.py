"""Contract: messages stored with their outcome (`Routed`), skipping the intake queue
unless an earlier message of their key waits there."""

from __future__ import annotations

import pytest
from backend_kit import (
    FakeClock,
    Stores,
    claim,
    claim_one,
    entries,
    ids,
    new_message,
    routed_to,
    stats_of,
    status,
)

from crossdock.bus.base import (
    Backend,
    Event,
    Forward,
    MessageStatus,
    Routed,
    Selector,
    Step,
)

FILTERED = Routed([Event(Step.FILTERED, {"rule": "flow.when: prio == 1", "reason": "condition"})])


async def test_a_routed_message_goes_straight_to_its_targets(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock, body={"title": "Printer on fire"})
    mapped = {"summary": "Printer on fire"}
    routed = Routed(
        [Event(Step.ROUTED, {"targets": ["crm", "desk"]})],
        [
            Forward("crm", mapped, [Event(Step.MAPPED, payload=mapped)]),
            Forward("desk", None, [Event(Step.MAPPED)]),
        ],
    )
    [result] = await backend.enqueue_many([m], routed=[routed])
    assert (result.message_id, result.duplicate, result.routed) == (m.id, False, True)
    assert (await stats_of(backend)).depth == 0
    assert await claim(backend) == []  # nothing waits in intake

    at_crm = await claim_one(backend, "crm")
    assert at_crm.payload == mapped
    assert at_crm.message == m.with_attempt(1)
    at_desk = await claim_one(backend, "desk")
    assert at_desk.payload == m.body
    journal = await entries(backend, m.id)
    assert [(e.step, e.destination) for e in journal] == [
        (Step.RECEIVED, None),
        (Step.ROUTED, None),
        (Step.MAPPED, "crm"),
        (Step.MAPPED, "desk"),
    ]
    assert journal[1].detail == {"targets": ["crm", "desk"]}
    assert journal[2].payload == mapped
    assert journal[3].payload is None

    assert await status(backend, m.id) is MessageStatus.QUEUED
    await backend.ack(at_crm)
    assert await status(backend, m.id) is MessageStatus.QUEUED
    await backend.ack(at_desk)
    assert await status(backend, m.id) is MessageStatus.DELIVERED


async def test_a_filtered_outcome_stores_the_message_as_filtered(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock)
    [result] = await backend.enqueue_many([m], routed=[FILTERED])
    assert result.routed
    assert await status(backend, m.id) is MessageStatus.FILTERED
    assert await claim(backend) == []
    journal = await entries(backend, m.id)
    assert [e.step for e in journal] == [Step.RECEIVED, Step.FILTERED]
    assert journal[1].detail == {"rule": "flow.when: prio == 1", "reason": "condition"}
    assert all(s.depth == 0 for s in await backend.stats())


async def test_messages_without_an_outcome_go_to_intake_beside_routed_ones(
    backend: Backend, clock: FakeClock
) -> None:
    a, b = new_message(clock, "a"), new_message(clock, "b")
    results = await backend.enqueue_many([a, b], routed=[None, routed_to("crm")])
    assert [r.routed for r in results] == [False, True]
    assert ids(await claim(backend, limit=10)) == [a.id]
    assert ids(await claim(backend, "crm", limit=10)) == [b.id]
    assert [e.step for e in await entries(backend, a.id)] == [Step.RECEIVED]


async def test_a_message_does_not_overtake_an_earlier_one_of_its_key_in_intake(
    backend: Backend, clock: FakeClock
) -> None:
    first = new_message(clock, "k")
    await backend.enqueue_many([first])  # waits in intake
    second = new_message(clock, "k")
    other = new_message(clock, "other")
    results = await backend.enqueue_many([second], routed=[routed_to("crm")])
    assert not results[0].routed  # stored for intake, behind `first`
    assert (await backend.enqueue_many([other], routed=[routed_to("crm")]))[0].routed
    assert (await stats_of(backend)).depth == 2
    [received] = await entries(backend, second.id)
    assert (received.step, received.detail) == (Step.RECEIVED, {"destination": "intake"})

    for expected in (first, second):  # the processor's turn, in lane order
        d = await claim_one(backend)
        assert d.message.id == expected.id
        await backend.ack(d, events=[Event(Step.ROUTED)], forward=[Forward("crm")])
    third = new_message(clock, "k")
    assert (await backend.enqueue_many([third], routed=[routed_to("crm")]))[0].routed

    delivered = []
    while got := await claim(backend, "crm", limit=10):
        delivered += [d for d in got if d.message.key == "k"]
        for d in got:
            await backend.ack(d)
    assert ids(delivered) == [first.id, second.id, third.id]


async def test_a_leased_intake_delivery_holds_its_key_back(
    backend: Backend, clock: FakeClock
) -> None:
    first = new_message(clock, "k")
    await backend.enqueue_many([first])
    leased = await claim_one(backend)
    second = new_message(clock, "k")
    assert not (await backend.enqueue_many([second], routed=[routed_to("crm")]))[0].routed
    await backend.ack(leased, forward=[Forward("crm")])
    assert ids(await claim(backend, "crm", limit=10)) == [first.id]


async def test_a_parked_intake_delivery_that_holds_its_lane_holds_routing_back(
    backend: Backend, clock: FakeClock
) -> None:
    held = new_message(clock, "k")
    await backend.enqueue_many([held])
    await backend.park(await claim_one(backend), events=[Event(Step.PARKED)], hold_lane=True)
    later = new_message(clock, "k")
    assert not (await backend.enqueue_many([later], routed=[routed_to("crm")]))[0].routed
    assert await backend.discard(Selector(message_id=held.id), "bad data") == 1
    d = await claim_one(backend)
    assert d.message.id == later.id
    await backend.ack(d, forward=[Forward("crm")])
    last = new_message(clock, "k")
    assert (await backend.enqueue_many([last], routed=[routed_to("crm")]))[0].routed


async def test_a_parked_intake_delivery_that_lets_its_lane_go_on_does_not(
    backend: Backend, clock: FakeClock
) -> None:
    parked = new_message(clock, "k")
    await backend.enqueue_many([parked])
    await backend.park(await claim_one(backend), events=[Event(Step.PARKED)], hold_lane=False)
    later = new_message(clock, "k")
    assert (await backend.enqueue_many([later], routed=[routed_to("crm")]))[0].routed


async def test_within_one_batch_a_message_stays_behind_one_stored_for_intake(
    backend: Backend, clock: FakeClock
) -> None:
    a, b, c = (new_message(clock, "k") for _ in range(3))
    results = await backend.enqueue_many([a, b, c], routed=[None, routed_to("crm"), FILTERED])
    assert [r.routed for r in results] == [False, False, False]
    assert (await stats_of(backend)).depth == 3


async def test_a_repeated_delivery_id_stores_nothing_even_with_an_outcome(
    backend: Backend, clock: FakeClock
) -> None:
    m = new_message(clock)
    [first] = await backend.enqueue_many([m], dedup=("shop", "d-1"), routed=[routed_to("crm")])
    assert first.routed
    again = new_message(clock)
    [repeated] = await backend.enqueue_many(
        [again], dedup=("shop", "d-1"), routed=[routed_to("crm")]
    )
    assert (repeated.message_id, repeated.duplicate, repeated.routed) == (m.id, True, False)
    assert len(await claim(backend, "crm", limit=10)) == 1
    assert await backend.journey(again.id) is None


async def test_an_outcome_is_stored_with_the_cursor(backend: Backend, clock: FakeClock) -> None:
    batch = [new_message(clock, str(i)) for i in range(3)]
    results = await backend.enqueue_many(
        batch, cursor=("poll:desk", {"since": 7}), routed=[routed_to("crm")] * 3
    )
    assert all(r.routed for r in results)
    assert await backend.get_cursor("poll:desk") == {"since": 7}
    assert ids(await claim(backend, "crm", limit=10)) == [m.id for m in batch]


async def test_a_forward_available_later_waits(backend: Backend, clock: FakeClock) -> None:
    m = new_message(clock)
    later = Routed([Event(Step.ROUTED)], [Forward("crm", available_at=clock() + 60)])
    await backend.enqueue_many([m], routed=[later])
    assert await claim(backend, "crm") == []
    clock.advance(61)
    assert ids(await claim(backend, "crm")) == [m.id]


async def test_masked_fields_of_a_routed_payload_never_reach_the_journal(
    stores: Stores, clock: FakeClock
) -> None:
    backend = await stores.open(mask=["password"])
    m = new_message(clock, body={"user": "ann", "password": "hunter2"})
    mapped = {"login": "ann", "password": "hunter2"}
    await backend.enqueue_many([m], routed=[routed_to("crm", payload=mapped)])
    d = await claim_one(backend, "crm")
    assert d.payload == mapped  # delivered as mapped
    journey = await backend.journey(m.id)
    assert journey is not None
    snapshot = next(e.payload for e in journey.entries if e.step is Step.MAPPED)
    assert snapshot == {"login": "ann", "password": "***"}


async def test_an_outcome_per_message_is_required(backend: Backend, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="one item per message"):
        await backend.enqueue_many(
            [new_message(clock), new_message(clock)], routed=[routed_to("crm")]
        )
    with pytest.raises(ValueError, match="one item per message"):
        await backend.enqueue_many([new_message(clock)], "crm", routed=[routed_to("crm")])
    assert await backend.stats() == []
