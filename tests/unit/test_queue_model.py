"""A stateful model of the queue, run against the real SQLite backend.

Hypothesis drives random sequences of enqueue (with and without an outcome), claim, ack
(with forward), retry, park, replay, discard, lease expiry and restart against
`SqliteBackend`, and after every step
compares what the backend shows through its public methods with a plain Python model:

- the set of messages and their statuses; nothing acknowledged comes back, nothing
  unacknowledged is lost (the final drain hands out every remaining delivery);
- a claim returns exactly the lanes the model finds due, each lane's next delivery in
  enqueue order, at most one per lane, never a lane that is in flight, retrying or held;
- settling with a lease the model considers lost raises `LeaseLost`, and only then;
- stats (depth, in flight, retrying, parked, oldest age) agree with the model.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from crossdock.bus.base import (
    INTAKE,
    Delivery,
    Event,
    Forward,
    MessageQuery,
    MessageStatus,
    QueueStats,
    Routed,
    Selector,
    Step,
)
from crossdock.bus.sqlite.backend import SqliteBackend
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import LeaseLost

T = TypeVar("T")
FLOW = "orders"
SOURCE = "shop"
CRM = "crm"
DESTINATIONS = (INTAKE, CRM)
KEYS = ("a", "b")
LEASE = 10.0
# The model only needs a file, not fsync: use memory-backed storage where there is some.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@dataclass
class Entry:
    """One delivery of one message to one destination, as the model sees it."""

    message_id: str
    destination: str
    key: str
    payload: JSON
    enqueued_at: float
    available_at: float
    state: str = "queued"  # queued | held (parked, holding its lane) | parked (skipped)
    attempt: int = 0  # claims since enqueue or replay
    lease: str | None = None
    lease_expires: float = 0.0


@dataclass
class Tracked:
    """A message's open / parked delivery counts and its status."""

    message: Message
    open: int = 1
    parked: int = 0
    status: MessageStatus = MessageStatus.QUEUED

    def update(
        self,
        open_delta: int = 0,
        parked_delta: int = 0,
        *,
        settled: MessageStatus = MessageStatus.DELIVERED,
        pending: MessageStatus = MessageStatus.QUEUED,
    ) -> None:
        self.open += open_delta
        self.parked += parked_delta
        assert self.open >= 0
        assert self.parked >= 0
        if self.parked:
            self.status = MessageStatus.PARKED
        else:
            self.status = pending if self.open else settled


@dataclass
class Model:
    now: float = 1_700_000_000.0
    messages: dict[str, Tracked] = field(default_factory=dict)
    lanes: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    gone: set[tuple[str, str]] = field(default_factory=set)  # acked or discarded deliveries
    dedup: dict[str, str] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        self.lanes.setdefault((entry.destination, entry.key), []).append(entry)

    def entries(self, destination: str | None = None) -> Iterable[Entry]:
        for (dest, _), lane in self.lanes.items():
            if destination is None or dest == destination:
                yield from lane

    def any_parked(self) -> bool:
        return any(e.state != "queued" for e in self.entries())

    def in_flight(self, lane: list[Entry]) -> bool:
        return any(e.lease is not None and e.lease_expires > self.now for e in lane)

    def due(self, destination: str) -> dict[str, Entry]:
        """The delivery each lane of ``destination`` would hand out now, by key."""
        found = {}
        for (dest, key), lane in self.lanes.items():
            if dest != destination or self.in_flight(lane):
                continue
            waiting = [e for e in lane if e.state in ("queued", "held")]
            if waiting and waiting[0].state == "queued" and waiting[0].available_at <= self.now:
                found[key] = waiting[0]
        return found

    def find(self, delivery: Delivery) -> Entry | None:
        lane = self.lanes.get((delivery.destination, delivery.message.key), [])
        for e in lane:
            if e.message_id == delivery.message.id:
                return e
        return None

    def holds(self, delivery: Delivery) -> Entry | None:
        """The entry, if ``delivery`` still holds its lease (expired or not)."""
        entry = self.find(delivery)
        if entry is None or entry.lease != delivery.lease:
            return None
        return entry

    def remove(self, entry: Entry) -> None:
        self.lanes[(entry.destination, entry.key)].remove(entry)

    def repoint(self, lanes: set[tuple[str, str]]) -> None:
        """Replay and discard re-point a lane not in flight: any stale lease there is lost."""
        for lane_id in lanes:
            lane = self.lanes[lane_id]
            if not self.in_flight(lane):
                for e in lane:
                    e.lease = None

    def stats(self, destination: str) -> QueueStats:
        entries = list(self.entries(destination))
        queued = [e for e in entries if e.state == "queued"]
        return QueueStats(
            flow=FLOW,
            destination=destination,
            depth=len(queued),
            in_flight=sum(e.lease is not None and e.lease_expires > self.now for e in entries),
            retrying=sum(
                e.lease is None and e.attempt > 0 and e.available_at > self.now for e in queued
            ),
            parked=len(entries) - len(queued),
            oldest_age=max((self.now - e.enqueued_at for e in queued), default=None),
        )


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.hand: list[Delivery] = []  # deliveries claimed and not yet settled by us
        self.checked = True
        self.serial = itertools.count()
        self.directory = Path(tempfile.mkdtemp(prefix="crossdock-model-", dir=SCRATCH))
        self.loop = asyncio.new_event_loop()
        self.backend = self.run(self._open())

    def run(self, call: Awaitable[T]) -> T:
        self.checked = False  # until this step's invariants have passed
        return self.loop.run_until_complete(call)

    async def _open(self) -> SqliteBackend:
        return await SqliteBackend.open(self.directory / "queue.db", clock=lambda: self.model.now)

    def teardown(self) -> None:
        try:
            if self.checked:  # after a failed step, report that failure alone
                self._drain()
        finally:
            self.run(self.backend.close())
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- rules ---------------------------------------------------------------------------

    @initialize(keys=st.lists(st.sampled_from(KEYS), min_size=2, max_size=6))
    def start_with_a_backlog(self, keys: list[str]) -> None:
        self.enqueue(keys, INTAKE)

    @rule(
        keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=4),
        destination=st.sampled_from(DESTINATIONS),
    )
    def enqueue(self, keys: list[str], destination: str) -> None:
        for key in keys:
            self._enqueue(key, destination, None)

    @rule(key=st.sampled_from(KEYS), dedup_key=st.sampled_from(["evt-1", "evt-2"]))
    def enqueue_with_dedup_key(self, key: str, dedup_key: str) -> None:
        self._enqueue(key, INTAKE, dedup_key)

    def _message(self, key: str) -> Message:
        return Message.new(
            flow=FLOW,
            source=SOURCE,
            event_type="ticket.updated",
            key=key,
            body={"n": next(self.serial)},
            received_at=self.model.now,
        )

    def _enqueue(self, key: str, destination: str, dedup_key: str | None) -> None:
        m = self._message(key)
        result = self.run(self.backend.enqueue(m, destination, dedup_key=dedup_key))
        earlier = None if dedup_key is None else self.model.dedup.get(dedup_key)
        if earlier is not None:
            assert (result.message_id, result.duplicate) == (earlier, True)
            return
        assert (result.message_id, result.duplicate) == (m.id, False)
        if dedup_key is not None:
            self.model.dedup[dedup_key] = m.id
        self.model.messages[m.id] = Tracked(m)
        now = self.model.now
        self.model.add(Entry(m.id, destination, key, m.body, now, now))

    @rule(
        keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3),
        outcomes=st.lists(st.sampled_from(["crm", "filtered", "none"]), min_size=3, max_size=3),
    )
    def enqueue_routed(self, keys: list[str], outcomes: list[str]) -> None:
        """Messages stored with their outcome skip intake, unless an earlier message of
        their key waits (queued, leased or held) in intake."""
        messages = [self._message(key) for key in keys]
        routed: list[Routed | None] = []
        for m, outcome in zip(messages, outcomes, strict=False):
            if outcome == "crm":
                routed.append(Routed([Event(Step.ROUTED)], [Forward(CRM, {"to": m.id})]))
            elif outcome == "filtered":
                routed.append(Routed([Event(Step.FILTERED, {"rule": "test"})]))
            else:
                routed.append(None)
        results = self.run(self.backend.enqueue_many(messages, routed=routed))
        now = self.model.now
        for m, outcome, result in zip(messages, routed, results, strict=True):
            lane = self.model.lanes.get((INTAKE, m.key), [])
            busy = any(e.state in ("queued", "held") for e in lane)
            assert (result.message_id, result.duplicate) == (m.id, False)
            assert result.routed == (outcome is not None and not busy), (m.key, lane)
            if not result.routed:
                self.model.messages[m.id] = Tracked(m)
                self.model.add(Entry(m.id, INTAKE, m.key, m.body, now, now))
            elif outcome is not None and outcome.forward:
                self.model.messages[m.id] = Tracked(m)
                self.model.add(Entry(m.id, CRM, m.key, {"to": m.id}, now, now))
            else:
                self.model.messages[m.id] = Tracked(m, 0, status=MessageStatus.FILTERED)

    @rule()
    def claim_next(self) -> None:
        # Hypothesis favours rules with fewer arguments. This one keeps deliveries in
        # flight, so that settles, stale leases and replays around them come up often.
        self.claim(INTAKE, 1)

    @rule(destination=st.sampled_from(DESTINATIONS), limit=st.integers(1, 4))
    def claim(self, destination: str, limit: int) -> None:
        due = self.model.due(destination)
        got = self.run(
            self.backend.claim(destination, worker="w", limit=limit, lease_seconds=LEASE)
        )
        assert len(got) == min(limit, len(due)), (got, due)
        self._took(got, due)

    @rule(destination=st.sampled_from(DESTINATIONS), limits=st.tuples(*[st.integers(1, 3)] * 2))
    def claim_concurrently(self, destination: str, limits: tuple[int, int]) -> None:
        due = self.model.due(destination)

        async def both() -> list[list[Delivery]]:
            return await asyncio.gather(
                *(
                    self.backend.claim(destination, worker=f"w{i}", limit=n, lease_seconds=LEASE)
                    for i, n in enumerate(limits)
                )
            )

        first, second = self.run(both())
        assert len(first) + len(second) == min(sum(limits), len(due))
        self._took([*first, *second], due)

    def _took(self, got: list[Delivery], due: dict[str, Entry]) -> None:
        keys = [d.message.key for d in got]
        assert len(set(keys)) == len(keys), f"one lane handed out twice: {keys}"
        for d in got:
            entry = due.get(d.message.key)
            assert entry is not None, f"lane {d.message.key} was not due"
            assert (d.destination, d.message.id) == (entry.destination, entry.message_id)
            assert (d.message.id, d.destination) not in self.model.gone
            assert d.message.attempt == entry.attempt + 1
            assert d.payload == entry.payload
            assert d.message.body == self.model.messages[d.message.id].message.body
            for other in self.model.lanes[(d.destination, d.message.key)]:
                other.lease = None  # any expired lease on the lane is taken over
            entry.attempt += 1
            entry.lease, entry.lease_expires = d.lease, self.model.now + LEASE
            self.hand.append(d)

    def _settle(self, pick: int, settle: Awaitable[None]) -> tuple[Delivery, Entry | None]:
        d = self.hand.pop(pick % len(self.hand))
        entry = self.model.holds(d)
        if entry is None:
            with pytest.raises(LeaseLost):
                self.run(settle)
        else:
            self.run(settle)
            entry.lease = None
        return d, entry

    @precondition(lambda self: self.hand)
    @rule(pick=st.integers(0, 99), forward=st.sampled_from(["none", "body", "mapped"]))
    def ack(self, pick: int, forward: str) -> None:
        d = self.hand[pick % len(self.hand)]
        payload = {"mapped": d.message.id} if forward == "mapped" else None
        out = [Forward(CRM, payload)] if forward != "none" and d.destination == INTAKE else []
        d, entry = self._settle(pick, self.backend.ack(d, forward=out))
        if entry is None:
            return
        self.model.remove(entry)
        self.model.gone.add((d.message.id, d.destination))
        now = self.model.now
        for f in out:
            body = d.message.body if f.payload is None else f.payload
            self.model.add(Entry(d.message.id, CRM, d.message.key, body, now, now))
        self.model.messages[d.message.id].update(len(out) - 1)

    @precondition(lambda self: self.hand)
    @rule(pick=st.integers(0, 99), delay=st.sampled_from([0.0, 3.0, 30.0]))
    def fail(self, pick: int, delay: float) -> None:
        d = self.hand[pick % len(self.hand)]
        when = self.model.now + delay
        _, entry = self._settle(pick, self.backend.retry_at(d, when))
        if entry is not None:
            entry.available_at = when
            self.model.messages[entry.message_id].update(pending=MessageStatus.RETRYING)

    @precondition(lambda self: self.hand)
    @rule(pick=st.integers(0, 99), hold=st.booleans())
    def park(self, pick: int, hold: bool) -> None:
        d = self.hand[pick % len(self.hand)]
        _, entry = self._settle(pick, self.backend.park(d, hold_lane=hold))
        if entry is not None:
            entry.state = "held" if hold else "parked"
            self.model.messages[entry.message_id].update(-1, 1)

    @rule(seconds=st.sampled_from([1.0, 5.0, LEASE + 1, 4 * LEASE]))
    def advance_clock(self, seconds: float) -> None:
        self.model.now += seconds

    def _parked(self, selector: Selector) -> list[Entry]:
        return [
            e
            for e in self.model.entries(selector.destination)
            if e.state != "queued" and selector.message_id in (None, e.message_id)
        ]

    @precondition(lambda self: self.model.any_parked())
    @rule(selector=st.sampled_from([Selector(flow=FLOW), Selector(destination=CRM)]))
    def replay(self, selector: Selector) -> None:
        parked = self._parked(selector)
        assert self.run(self.backend.replay(selector)) == len(parked)
        for e in parked:
            e.state, e.attempt, e.available_at = "queued", 0, self.model.now
            self.model.messages[e.message_id].update(1, -1)
        self.model.repoint({(e.destination, e.key) for e in parked})

    @precondition(lambda self: self.model.any_parked())
    @rule(destination=st.sampled_from(DESTINATIONS))
    def discard(self, destination: str) -> None:
        selector = Selector(destination=destination)
        parked = self._parked(selector)
        assert self.run(self.backend.discard(selector, "model says so")) == len(parked)
        for e in parked:
            self.model.remove(e)
            self.model.gone.add((e.message_id, e.destination))
            self.model.messages[e.message_id].update(0, -1, settled=MessageStatus.DISCARDED)
        self.model.repoint({(e.destination, e.key) for e in parked})

    @rule(downtime=st.sampled_from([0.0, LEASE + 1]))
    def restart(self, downtime: float) -> None:
        """Close the store and open it again, maybe after a downtime longer than a lease.

        The model does not change: claimed deliveries keep their leases until they expire.
        """
        self.run(self.backend.close())
        self.model.now += downtime
        self.backend = self.run(self._open())

    def _drain(self) -> None:
        """Let every lease and retry run out, replay all, and deliver everything left."""
        self.model.now += 10 * LEASE
        self.replay(Selector(flow=FLOW))
        self.hand.clear()
        for _ in range(200):
            progress = False
            for destination in DESTINATIONS:
                self.claim(destination, 4)
                progress = progress or bool(self.hand)
                while self.hand:
                    self.ack(0, "none")
            if not progress:
                break
        assert not list(self.model.entries()), "deliveries left that never came out"

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def backend_matches_model(self) -> None:
        self._statuses_match()
        self._stats_match()
        self.checked = True

    def _statuses_match(self) -> None:
        found = self.run(self.backend.find_messages(MessageQuery(flow=FLOW, limit=10_000)))
        assert {s.id: s.status for s in found} == {
            i: t.status for i, t in self.model.messages.items()
        }

    def _stats_match(self) -> None:
        rows = {s.destination: s for s in self.run(self.backend.stats())}
        assert set(rows) <= set(DESTINATIONS)
        for destination in DESTINATIONS:
            expected = self.model.stats(destination)
            got = rows.get(destination, QueueStats(FLOW, destination, 0, 0, 0, 0, None))
            assert got.flow == FLOW
            assert (got.depth, got.in_flight, got.retrying, got.parked) == (
                expected.depth,
                expected.in_flight,
                expected.retrying,
                expected.parked,
            ), (got, expected)
            if expected.oldest_age is None:
                assert got.oldest_age is None
            else:
                assert got.oldest_age == pytest.approx(expected.oldest_age)


QueueMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestQueueModel = QueueMachine.TestCase
