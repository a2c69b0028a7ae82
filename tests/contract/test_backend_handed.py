"""Contract: deliveries handed to a taker as they are stored (`Backend.hand_to`), leased in
the same commit instead of claimed. Every lane rule holds as for a claim."""

from __future__ import annotations

import pytest
from backend_kit import (
    FakeClock,
    Stores,
    claim,
    claim_one,
    counts,
    entries,
    ids,
    new_message,
    routed_to,
    stats_of,
    status,
)

from crossdock.bus.base import (
    Backend,
    Delivery,
    Event,
    Forward,
    MessageStatus,
    Routed,
    Step,
)
from crossdock.core.errors import LeaseLost


class Hands:
    """A taker with ``room`` slots that records what it is given."""

    def __init__(self, room: int = 10, *, lease: float = 30.0) -> None:
        self.room = room
        self.reserved = 0
        self.unreserved = 0
        self.taken: list[Delivery] = []
        self._lease = lease

    @property
    def worker(self) -> str:
        return "hands-1"

    @property
    def lease_seconds(self) -> float:
        return self._lease

    def reserve(self) -> bool:
        if self.reserved >= self.room:
            return False
        self.reserved += 1
        return True

    def take(self, delivery: Delivery) -> None:
        assert self.reserved > 0, "take without a reservation"
        self.reserved -= 1
        self.taken.append(delivery)

    def unreserve(self) -> None:
        assert self.reserved > 0, "unreserve without a reservation"
        self.reserved -= 1
        self.unreserved += 1


async def test_a_routed_delivery_is_handed_over_leased(backend: Backend, clock: FakeClock) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    m = new_message(clock, body={"title": "Printer on fire"})
    mapped = {"summary": "Printer on fire"}
    routed = Routed(
        [Event(Step.ROUTED, {"targets": ["crm", "desk"]})],
        [Forward("crm", mapped, [Event(Step.MAPPED, payload=mapped)]), Forward("desk")],
    )
    [result] = await backend.enqueue_many([m], routed=[routed])
    assert result.routed
    [handed] = hands.taken
    assert hands.reserved == 0
    assert (handed.destination, handed.payload) == ("crm", mapped)
    assert handed.message == m.with_attempt(1)
    assert handed.lease_expires == clock() + 30.0
    assert await claim(backend, "crm") == []  # leased: not handed out twice
    assert counts(await stats_of(backend, destination="crm"))[:2] == (1, 1)  # in flight
    at_desk = await claim_one(backend, "desk")  # no taker there: claimed as usual
    assert at_desk.payload == m.body

    await backend.ack(handed, events=[Event(Step.DELIVERED, {"status": 201})])
    await backend.ack(at_desk)
    assert await status(backend, m.id) is MessageStatus.DELIVERED
    assert [(e.step, e.destination) for e in await entries(backend, m.id)] == [
        (Step.RECEIVED, None),
        (Step.ROUTED, None),
        (Step.MAPPED, "crm"),
        (Step.DELIVERED, "crm"),
    ]


async def test_a_handed_delivery_not_settled_is_handed_out_again_when_its_lease_ends(
    backend: Backend, clock: FakeClock
) -> None:
    hands = Hands(lease=10.0)
    backend.hand_to("crm", hands)
    m = new_message(clock)
    await backend.enqueue_many([m], routed=[routed_to("crm")])
    [handed] = hands.taken
    clock.advance(9.0)
    assert await claim(backend, "crm") == []
    clock.advance(2.0)
    again = await claim_one(backend, "crm")
    assert (again.message.id, again.message.attempt) == (m.id, 2)
    with pytest.raises(LeaseLost):
        await backend.ack(handed)
    await backend.ack(again)
    journal = await entries(backend, m.id)
    assert [e.step for e in journal][-1] is Step.REDELIVERED
    assert await status(backend, m.id) is MessageStatus.DELIVERED


async def test_a_handed_lease_survives_a_reopen(stores: Stores, clock: FakeClock) -> None:
    backend = await stores.open()
    hands = Hands(lease=10.0)
    backend.hand_to("crm", hands)
    m = new_message(clock)
    await backend.enqueue_many([m], routed=[routed_to("crm")])
    backend = await stores.reopen(backend)  # the process that held it stopped
    assert await claim(backend, "crm") == []
    clock.advance(11.0)
    again = await claim_one(backend, "crm")
    assert (again.message.id, again.message.attempt) == (m.id, 2)


async def test_a_key_waits_behind_its_handed_delivery(backend: Backend, clock: FakeClock) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    first, second = new_message(clock, "k"), new_message(clock, "k")
    other = new_message(clock, "other")
    await backend.enqueue_many([first], routed=[routed_to("crm")])
    await backend.enqueue_many([second], routed=[routed_to("crm")])
    await backend.enqueue_many([other], routed=[routed_to("crm")])
    assert ids(hands.taken) == [first.id, other.id]
    assert (hands.unreserved, hands.reserved) == (1, 0)
    assert await claim(backend, "crm") == []  # `second` waits for `first`
    await backend.ack(hands.taken[0])
    after = await claim_one(backend, "crm")
    assert (after.message.id, after.message.attempt) == (second.id, 1)


async def test_within_one_batch_only_the_first_of_a_key_is_handed(
    backend: Backend, clock: FakeClock
) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    a, b, c = new_message(clock, "k"), new_message(clock, "k"), new_message(clock, "j")
    await backend.enqueue_many([a, b, c], routed=[routed_to("crm")] * 3)
    assert ids(hands.taken) == [a.id, c.id]
    assert (hands.unreserved, hands.reserved) == (1, 0)
    for d in hands.taken:
        await backend.ack(d)
    assert ids(await claim(backend, "crm", limit=10)) == [b.id]


async def test_a_key_with_a_parked_delivery_holding_its_lane_is_not_handed(
    backend: Backend, clock: FakeClock
) -> None:
    held = new_message(clock, "k")
    await backend.enqueue_many([held], routed=[routed_to("crm")])
    await backend.park(await claim_one(backend, "crm"), hold_lane=True)
    hands = Hands()
    backend.hand_to("crm", hands)
    later = new_message(clock, "k")
    await backend.enqueue_many([later], routed=[routed_to("crm")])
    assert (hands.taken, hands.unreserved) == ([], 1)
    assert await claim(backend, "crm") == []


async def test_without_room_deliveries_wait_to_be_claimed(
    backend: Backend, clock: FakeClock
) -> None:
    hands = Hands(room=1)
    backend.hand_to("crm", hands)
    a, b = new_message(clock, "a"), new_message(clock, "b")
    await backend.enqueue_many([a, b], routed=[routed_to("crm")] * 2)
    assert ids(hands.taken) == [a.id]
    assert hands.unreserved == 0  # b was never reserved
    assert ids(await claim(backend, "crm", limit=10)) == [b.id]


async def test_a_message_stored_for_intake_hands_nothing(
    backend: Backend, clock: FakeClock
) -> None:
    first = new_message(clock, "k")
    await backend.enqueue_many([first])  # waits in intake: the next of its key goes there
    hands = Hands()
    backend.hand_to("crm", hands)
    second = new_message(clock, "k")
    [result] = await backend.enqueue_many([second], routed=[routed_to("crm")])
    assert not result.routed
    assert (hands.taken, hands.unreserved, hands.reserved) == ([], 1, 0)


async def test_a_repeated_delivery_id_hands_nothing(backend: Backend, clock: FakeClock) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    m = new_message(clock)
    await backend.enqueue_many([m], dedup=("shop", "d-1"), routed=[routed_to("crm")])
    again = new_message(clock, "other")
    [repeated] = await backend.enqueue_many(
        [again], dedup=("shop", "d-1"), routed=[routed_to("crm")]
    )
    assert repeated.duplicate
    assert ids(hands.taken) == [m.id]
    assert (hands.unreserved, hands.reserved) == (1, 0)


async def test_a_failed_store_gives_its_reservations_back(
    backend: Backend, clock: FakeClock
) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    bad = new_message(clock, body={"n": 2**70})  # a number the store cannot keep
    with pytest.raises(Exception):  # noqa: B017, PT011 - how it fails is another test's
        await backend.enqueue_many([bad], routed=[routed_to("crm")])
    assert (hands.taken, hands.unreserved, hands.reserved) == ([], 1, 0)


async def test_a_delayed_forward_is_not_handed(backend: Backend, clock: FakeClock) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    m = new_message(clock)
    later = Routed([Event(Step.ROUTED)], [Forward("crm", available_at=clock() + 60)])
    await backend.enqueue_many([m], routed=[later])
    assert (hands.taken, hands.unreserved, hands.reserved) == ([], 0, 0)
    clock.advance(61)
    assert ids(await claim(backend, "crm")) == [m.id]


async def test_handing_stops_when_the_taker_is_removed(backend: Backend, clock: FakeClock) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    backend.hand_to("crm", None)
    m = new_message(clock)
    await backend.enqueue_many([m], routed=[routed_to("crm")])
    assert hands.taken == []
    assert ids(await claim(backend, "crm")) == [m.id]


async def test_a_handed_delivery_can_be_retried_and_parked_as_a_claimed_one(
    backend: Backend, clock: FakeClock
) -> None:
    hands = Hands()
    backend.hand_to("crm", hands)
    m = new_message(clock)
    await backend.enqueue_many([m], routed=[routed_to("crm")])
    [handed] = hands.taken
    await backend.retry_at(handed, clock() + 5, events=[Event(Step.FAILED)])
    assert await status(backend, m.id) is MessageStatus.RETRYING
    clock.advance(6)
    again = await claim_one(backend, "crm")
    assert again.message.attempt == 2
    await backend.park(again, events=[Event(Step.PARKED)])
    assert await status(backend, m.id) is MessageStatus.PARKED
