"""A fake service desk on 127.0.0.1 for the poll tests: tickets with ids and updated_at.

Every listing filters by ``updated_since`` (inclusive: ``updated_at >= since``) and sorts by
(updated_at, id). The listings differ only in how they page:

- ``/tickets``          the whole list, as a bare JSON array
- ``/offset/tickets``   ``offset`` and ``limit`` -> ``{"items": [...]}``
- ``/page/tickets``     ``page`` (from 1) and ``per_page`` -> ``{"items": [...]}``
- ``/token/tickets``    keyset token ``next`` -> ``{"items": [...], "meta": {"next": ...}}``
- ``/link/tickets``     keyset ``after`` -> ``[...]`` with ``Link: <...>; rel="next"``

``POST /oauth/token`` issues ``tok-1``, ``tok-2``, ... (OAuth 2 client credentials);
``/text`` answers HTML.

Pages hold `page_size` tickets unless the request asks for another size. The test changes
`tickets` between polls, queues failures by request number in `faults`, and reads what
each request looked like in `requests` and which ticket versions were sent in `served`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy, MultiDictProxy

Ticket = dict[str, Any]


def ts(n: int) -> str:
    """The n-th second of 2025 as ISO-8601 text (sorts like the number)."""
    return f"2025-01-{1 + n // 86400:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


def ticket_id(n: int) -> str:
    return f"T-{n:05d}"


@dataclass(frozen=True)
class Seen:
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Fault:
    status: int
    body: bytes = b'{"error": "planned"}'
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Desk:
    tickets: dict[str, Ticket] = field(default_factory=dict)
    page_size: int = 3
    faults: dict[int, Fault] = field(default_factory=dict)  # by request number, from 1
    link_base: str | None = None  # set: Link headers point there instead of back here
    delay: float = 0.0  # seconds before each answer
    descending: bool = False  # /tickets lists the newest first
    requests: list[Seen] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)  # access tokens issued
    served: list[tuple[str, str]] = field(default_factory=list)  # (id, updated_at) sent
    port: int = 0
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def put(self, n: int, updated: int, **fields: Any) -> Ticket:
        """Create or change ticket ``n`` with ``updated_at = ts(updated)``."""
        ticket = {"id": ticket_id(n), "updated_at": ts(updated), "title": f"ticket {n}", **fields}
        self.tickets[ticket["id"]] = ticket
        return ticket

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/tickets", self._plain)
        app.router.add_get("/offset/tickets", self._offset)
        app.router.add_get("/page/tickets", self._page)
        app.router.add_get("/token/tickets", self._token)
        app.router.add_get("/link/tickets", self._link)
        app.router.add_get("/text", self._text)
        app.router.add_post("/oauth/token", self._token_grant)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- listings -------------------------------------------------------------------

    def _listing(self, request: web.Request) -> list[Ticket]:
        since = request.query.get("updated_since")
        found = [t for t in self.tickets.values() if since is None or str(t["updated_at"]) >= since]
        return sorted(found, key=lambda t: (str(t["updated_at"]), t["id"]), reverse=self.descending)

    def _after(self, request: web.Request, key: str) -> list[Ticket]:
        listing = self._listing(request)
        token = request.query.get(key)
        if token is None:
            return listing
        updated_at, _, last_id = token.partition("|")
        return [t for t in listing if (t["updated_at"], t["id"]) > (updated_at, last_id)]

    async def _answer(self, request: web.Request, page: list[Ticket], body: Any) -> web.Response:
        self.requests.append(Seen(request.path, request.query, request.headers))
        if self.delay:
            with contextlib.suppress(TimeoutError):  # stop() ends the wait at once
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        fault = self.faults.get(len(self.requests))
        if fault is not None:
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        self.served.extend((t["id"], t["updated_at"]) for t in page)
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _plain(self, request: web.Request) -> web.Response:
        page = self._listing(request)
        return await self._answer(request, page, page)

    async def _offset(self, request: web.Request) -> web.Response:
        offset = int(request.query["offset"])
        limit = int(request.query.get("limit", self.page_size))
        page = self._listing(request)[offset : offset + limit]
        return await self._answer(request, page, {"items": page})

    async def _page(self, request: web.Request) -> web.Response:
        size = int(request.query.get("per_page", self.page_size))
        number = int(request.query["page"])
        page = self._listing(request)[(number - 1) * size : number * size]
        return await self._answer(request, page, {"items": page})

    async def _token(self, request: web.Request) -> web.Response:
        rest = self._after(request, "next")
        page = rest[: self.page_size]
        token = _keyset(page[-1]) if len(rest) > len(page) else None
        return await self._answer(request, page, {"items": page, "meta": {"next": token}})

    async def _link(self, request: web.Request) -> web.Response:
        rest = self._after(request, "after")
        page = rest[: self.page_size]
        response = await self._answer(request, page, page)
        if len(rest) > len(page) and response.status == 200:
            base = self.url if self.link_base is None else self.link_base
            target = request.rel_url.update_query({"after": _keyset(page[-1])})
            response.headers["Link"] = f'<{base}{target}>; rel="next", <{base}/x>; rel="help"'
        return response

    async def _text(self, request: web.Request) -> web.Response:
        self.requests.append(Seen(request.path, request.query, request.headers))
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async def _token_grant(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        self.grants.append(f"tok-{len(self.grants) + 1}")
        return web.json_response({"access_token": self.grants[-1], "expires_in": 3600})


def _keyset(ticket: Ticket) -> str:
    return f"{ticket['updated_at']}|{ticket['id']}"
