"""A real loopback HTTP target for the http sink tests, and small helpers.

`Target` is an aiohttp.web server on 127.0.0.1 (random port) that records every request
as it arrived on the wire and answers as the test says: `reply` sets the answer to every
request, `then` queues answers for the next requests. ``POST /oauth/token`` is an OAuth 2
token endpoint issuing ``tok-1``, ``tok-2``, ...; with ``require_token`` set, other
requests must carry a token that was issued and not revoked, or get a 401.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from crossdock.bus.base import Delivery
from crossdock.connectors.http import HttpSink
from crossdock.core.envelope import JSON, Message

TOKEN_PATH = "/oauth/token"

MakeSink = Callable[..., Awaitable[HttpSink]]
"""The ``make_sink`` fixture: ``await make_sink(clock=None, **settings)``."""


@dataclass(frozen=True)
class Seen:
    """One request as the target received it."""

    method: str
    raw_path: str  # path and query exactly as sent on the wire
    host: str  # the Host header
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: JSON, **headers: str) -> Reply:
        return cls(status, orjson.dumps(value), {"Content-Type": "application/json", **headers})


Answer = Reply | Callable[[Seen], Reply]


class Target:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.token_requests: list[Seen] = []
        self.answer: Answer = Reply(200, b"{}", {"Content-Type": "application/json"})
        self.queued: deque[Answer] = deque()
        self.token_answer: Answer | None = None  # None: issue a token
        self.expires_in: int | None = 3600
        self.require_token = False
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.token_gate: asyncio.Event | None = None  # set: token requests wait for it
        self.port = 0
        self._runner: web.ServerRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reply(self, answer: Answer) -> None:
        """Answer every request (but queued ones) with ``answer``."""
        self.answer = answer

    def then(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers``, in order."""
        self.queued.extend(answers)

    async def start(self) -> None:
        # the low-level server: no routing, so any path at all reaches the handler
        self._runner = web.ServerRunner(web.Server(self._handle), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        seen = Seen(
            method=request.method,
            raw_path=request.raw_path,
            host=request.headers.get("Host", ""),
            headers=request.headers,
            body=await request.read(),
        )
        if request.method == "POST" and request.path == TOKEN_PATH:
            return await self._token(seen)
        self.requests.append(seen)
        if self.require_token and not self._authorized(seen):
            return web.Response(status=401, text="token refused")
        answer = self.queued.popleft() if self.queued else self.answer
        return _response(answer(seen) if callable(answer) else answer)

    async def _token(self, seen: Seen) -> web.Response:
        self.token_requests.append(seen)
        if self.token_gate is not None:
            await self.token_gate.wait()
        if self.token_answer is not None:
            answer = self.token_answer
            return _response(answer(seen) if callable(answer) else answer)
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        issued: dict[str, JSON] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            issued["expires_in"] = self.expires_in
        return _response(Reply.json(200, issued))

    def _authorized(self, seen: Seen) -> bool:
        scheme, _, token = seen.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and token in self.issued and token not in self.revoked


def _response(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def delivery(
    payload: JSON,
    *,
    key: str = "k-1",
    attempt: int = 1,
    message: Message | None = None,
    destination: str = "erp",
) -> Delivery:
    """A claimed delivery of a new message (or of ``message`` again) to ``destination``."""
    if message is None:
        message = Message.new(
            flow="orders", source="shop", event_type="order.created", body=payload, key=key
        )
    return Delivery(
        message=message.with_attempt(attempt),
        destination=destination,
        payload=payload,
        lease="lease-1",
        lease_expires=time.time() + 30,
        seq=1,
    )


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], *, within: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)
