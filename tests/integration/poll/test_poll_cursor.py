"""One poll at a time: the cursor, the boundary, and the messages each flow gets."""

from __future__ import annotations

from pathlib import Path

from conftest import MakePoller
from poll_kit import CURSOR, ENDPOINT, make_config, stored_messages, versions
from service_desk import Desk, ticket_id, ts

from crossdock.bus import INTAKE, SqliteBackend
from crossdock.runtime.plan import Plan
from crossdock.runtime.poller import Poller
from crossdock.runtime.processor import Processor

CURSOR_AT = {"param": "updated_since", "field": "updated_at", "initial": ts(100)}


async def test_the_first_poll_starts_at_initial(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    for n in range(6):
        desk.put(n, updated=98 + n)  # tickets 0 and 1 are older than initial
    poller = make_poller(record_key="id", cursor=CURSOR_AT)

    assert await poller.poll_once() == 2 * 4  # tickets 2..5, two flows

    assert desk.requests[0].query["updated_since"] == ts(100)
    wanted = [(ticket_id(n), ts(98 + n)) for n in range(2, 6)]
    assert versions(await stored_messages(backend), "tickets") == wanted


async def test_the_cursor_is_committed_with_the_messages(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller, tmp_path: Path
) -> None:
    for n in range(4):
        desk.put(n, updated=100 + n)
    desk.put(4, updated=103)  # two tickets share the newest timestamp
    await make_poller(record_key="id", cursor=CURSOR_AT).poll_once()

    reopened = await SqliteBackend.open(tmp_path / "crossdock.db")
    try:
        cursor = await reopened.get_cursor(CURSOR)
    finally:
        await reopened.close()
    assert cursor == {"value": ts(103), "seen": [ticket_id(3), ticket_id(4)]}


async def test_the_next_poll_asks_from_the_cursor_and_stores_only_changes(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    for n in range(5):
        desk.put(n, updated=100 + n)
    poller = make_poller(record_key="id", cursor=CURSOR_AT)
    await poller.poll_once()
    desk.put(1, updated=200, title="changed")
    desk.put(9, updated=201)

    assert await poller.poll_once() == 2 * 2

    assert desk.requests[1].query["updated_since"] == ts(104)
    stored = await stored_messages(backend)
    assert versions(stored, "tickets")[5:] == [(ticket_id(1), ts(200)), (ticket_id(9), ts(201))]
    assert [m.body["title"] for m in stored[-4:]] == ["changed", "changed", "ticket 9", "ticket 9"]
    assert await backend.get_cursor(CURSOR) == {"value": ts(201), "seen": [ticket_id(9)]}


async def test_records_at_the_cursor_are_not_stored_twice(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.put(2, updated=100)
    poller = make_poller(record_key="id", cursor=CURSOR_AT)
    await poller.poll_once()

    assert await poller.poll_once() == 0  # the desk sends 1 and 2 again (updated_since is >=)
    desk.put(3, updated=100)  # written later, with the same timestamp
    assert await poller.poll_once() == 2

    assert [m.key for m in await stored_messages(backend) if m.flow == "tickets"] == [
        ticket_id(1),
        ticket_id(2),
        ticket_id(3),
    ]
    assert len(desk.served) == 2 + 2 + 3
    cursor = await backend.get_cursor(CURSOR)
    assert cursor == {"value": ts(100), "seen": [ticket_id(n) for n in (1, 2, 3)]}


async def test_without_record_key_the_content_recognises_a_record(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    poller = make_poller(cursor=CURSOR_AT)
    await poller.poll_once()
    assert await poller.poll_once() == 0
    desk.put(1, updated=100, title="same time, new content")
    assert await poller.poll_once() == 2


async def test_each_flow_gets_one_message_per_record_with_its_key(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(7, updated=100, ref="R-7")
    desk.put(8, updated=101, ref="R-8")
    poller = make_poller(record_key="ref", cursor=CURSOR_AT, event_type="ticket.changed")

    await poller.poll_once()

    stored = await stored_messages(backend)
    by_flow = {(m.flow, m.key) for m in stored}
    assert by_flow == {
        ("tickets", ticket_id(7)),  # the flow's own key: id
        ("tickets", ticket_id(8)),
        ("audit", "R-7"),  # no key in the flow: record_key
        ("audit", "R-8"),
    }
    assert {(m.source, m.event_type) for m in stored} == {("desk", "ticket.changed")}
    assert [m.body for m in stored if m.flow == "audit"] == [
        desk.tickets[ticket_id(7)],
        desk.tickets[ticket_id(8)],
    ]


async def test_records_are_stored_in_cursor_order(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=105)
    desk.put(2, updated=101)
    desk.put(3, updated=103)
    desk.descending = True
    poller = make_poller(path="/tickets", record_key="id", cursor=CURSOR_AT, flows="tickets")
    await poller.poll_once()
    assert [t for t, _ in desk.served] == [ticket_id(n) for n in (1, 3, 2)]
    assert [m.key for m in await stored_messages(backend)] == [ticket_id(n) for n in (2, 3, 1)]


async def test_a_poll_without_records_keeps_the_cursor_and_stores_nothing(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    poller = make_poller(record_key="id", cursor=CURSOR_AT)
    await poller.poll_once()
    before = await backend.get_cursor(CURSOR)
    desk.tickets.clear()

    assert await poller.poll_once() == 0

    assert await backend.get_cursor(CURSOR) == before
    assert len(await stored_messages(backend)) == 2


async def test_without_a_cursor_every_poll_stores_every_record(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    poller = make_poller(record_key="id")
    assert await poller.poll_once() == 2
    assert await poller.poll_once() == 2
    assert "updated_since" not in desk.requests[0].query
    assert await backend.get_cursor(CURSOR) is None


async def test_numeric_cursors_compare_as_numbers(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    for n, version in enumerate([9, 10, 11]):
        desk.put(n, updated=0, version=version)
    cursor = {"param": "since_version", "field": "version", "initial": 2}
    await make_poller(record_key="id", cursor=cursor).poll_once()
    assert await backend.get_cursor(CURSOR) == {"value": 11, "seen": [ticket_id(2)]}
    assert desk.requests[0].query["since_version"] == "2"


async def test_records_below_the_cursor_are_skipped_if_the_service_ignores_it(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    for n in range(3):
        desk.put(n, updated=100 + n)
    ignored = {"param": "changed_after", "field": "updated_at"}  # the desk does not filter
    poller = make_poller(record_key="id", cursor=ignored)
    assert await poller.poll_once() == 6
    desk.put(3, updated=150)
    assert await poller.poll_once() == 2
    assert desk.requests[1].query["changed_after"] == ts(102)
    assert len(desk.served) == 3 + 4


async def test_a_record_without_a_cursor_value_is_stored_and_does_not_move_the_cursor(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.tickets["T-x"] = {"id": "T-x", "updated_at": None}
    poller = make_poller(record_key="id", cursor=CURSOR_AT, flows="tickets")
    assert await poller.poll_once() == 2
    assert [m.key for m in await stored_messages(backend)] == ["T-x", ticket_id(1)]
    assert await backend.get_cursor(CURSOR) == {"value": ts(100), "seen": [ticket_id(1)]}


async def test_with_the_processor_as_router_records_go_straight_to_their_targets(
    desk: Desk, backend: SqliteBackend, tmp_path: Path
) -> None:
    """The hub's pollers store each record's messages with their deliveries, and the
    cursor, in one commit: nothing waits in the intake queue."""
    for n in range(3):
        desk.put(n, updated=100 + n)
    config = make_config(
        tmp_path, {"url": desk.url + "/tickets", "record_key": "id", "cursor": CURSOR_AT}
    )
    router = Processor(backend, Plan.from_config(config))
    poller = Poller(backend, config, ENDPOINT, router=router)

    assert await poller.poll_once() == 2 * 3

    assert await backend.claim(INTAKE, worker="t", limit=10) == []
    at_erp = await backend.claim("erp", worker="t", limit=10)
    assert len(at_erp) == 2 * 3
    assert await backend.get_cursor(CURSOR) is not None
    journey = await backend.journey(at_erp[0].message.id)
    assert journey is not None
    assert [(e.step.value, e.destination) for e in journey.entries] == [
        ("received", None),
        ("routed", None),
        ("mapped", "erp"),
    ]
