"""Every pagination kind over several pages, the max_pages bound, and foreign links."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MakePoller
from poll_kit import CURSOR, stored_messages, versions
from service_desk import Desk, ticket_id, ts

from crossdock.bus import SqliteBackend
from crossdock.connectors.poll import LinkRefused

CURSOR_AT = {"param": "updated_since", "field": "updated_at"}
ALL = [(ticket_id(n), ts(100 + n)) for n in range(10)]

KINDS: dict[str, tuple[str, dict[str, Any], list[dict[str, str]]]] = {
    # kind: (path, pagination, the query of each request beyond updated_since)
    "offset": (
        "/offset/tickets",
        {"type": "offset", "limit": 3},
        [{"offset": str(o), "limit": "3"} for o in (0, 3, 6, 9)],
    ),
    "page": (
        "/page/tickets",
        {"type": "page", "size_param": "per_page", "size": 3},
        [{"page": str(p), "per_page": "3"} for p in (1, 2, 3, 4)],
    ),
    "cursor_token": (
        "/token/tickets",
        {"type": "cursor_token", "param": "next", "token": "meta.next"},
        [{}, *({"next": f"{ts(100 + n)}|{ticket_id(n)}"} for n in (2, 5, 8))],
    ),
    "link": (
        "/link/tickets",
        {"type": "link"},
        [{}, *({"after": f"{ts(100 + n)}|{ticket_id(n)}"} for n in (2, 5, 8))],
    ),
}


def _records(kind: str) -> str | None:
    return "items" if kind in ("offset", "page", "cursor_token") else None


@pytest.fixture
def ten(desk: Desk) -> Desk:
    for n in range(10):
        desk.put(n, updated=100 + n)
    return desk


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_page_is_fetched_once(
    kind: str, ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    path, pagination, queries = KINDS[kind]
    poller = make_poller(
        path, pagination=pagination, records=_records(kind), record_key="id", cursor=CURSOR_AT
    )

    assert await poller.poll_once() == 20

    assert versions(await stored_messages(backend), "tickets") == ALL
    sent = [{k: v for k, v in r.query.items() if k != "updated_since"} for r in ten.requests]
    assert sent == queries
    assert await backend.get_cursor(CURSOR) == {"value": ts(109), "seen": [ticket_id(9)]}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_max_pages_bounds_a_poll_and_the_next_goes_on(
    kind: str, ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    path, pagination, _ = KINDS[kind]
    poller = make_poller(
        path,
        pagination=pagination,
        records=_records(kind),
        record_key="id",
        cursor=CURSOR_AT,
        max_pages=2,
        flows="tickets",
    )

    assert await poller.poll_once() == 6
    assert len(ten.requests) == 2
    assert await backend.get_cursor(CURSOR) == {"value": ts(105), "seen": [ticket_id(5)]}
    assert await poller.poll_once() == 4  # asks from ts(105): 5 (seen) to 9
    assert ten.requests[2].query["updated_since"] == ts(105)

    assert versions(await stored_messages(backend), "tickets") == ALL


async def test_a_page_kind_without_size_stops_at_an_empty_page(
    ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    poller = make_poller("/page/tickets", pagination={"type": "page"}, records="items")
    assert await poller.poll_once() == 20
    assert [r.query["page"] for r in ten.requests] == ["1", "2", "3", "4", "5"]


async def test_a_link_to_another_host_is_not_followed(
    ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    ten.link_base = f"http://localhost:{ten.port}"  # the same server, by another name
    poller = make_poller("/link/tickets", pagination={"type": "link"}, cursor=CURSOR_AT)

    with pytest.raises(LinkRefused, match=f"localhost:{ten.port}"):
        await poller.poll_once()

    assert len(ten.requests) == 1
    assert await stored_messages(backend) == []
    assert await backend.get_cursor(CURSOR) is None


@pytest.mark.parametrize("base", ["https://127.0.0.1:{port}", "http://127.0.0.1:{other}"])
async def test_a_link_to_another_scheme_or_port_is_not_followed(
    base: str, ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    ten.link_base = base.format(port=ten.port, other=ten.port + 1)
    poller = make_poller("/link/tickets", pagination={"type": "link"})
    with pytest.raises(LinkRefused):
        await poller.poll_once()
    assert await stored_messages(backend) == []


async def test_a_relative_link_is_followed(
    ten: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    ten.link_base = ""  # Link: </link/tickets?after=...>
    poller = make_poller("/link/tickets", pagination={"type": "link"}, flows="tickets")
    assert await poller.poll_once() == 10
    assert len(ten.requests) == 4
