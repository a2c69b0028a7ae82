"""HTTP/1.1 requests over kept-alive connections: the delivery path's client.

`ConnectionPool` sends one request at a time per connection, to one origin (the endpoint's
``base_url``), with at most ``size`` connections open; an idle connection is kept for
``keepalive`` seconds. The answers are read by httptools (llhttp, the parser of Node.js,
which the intake's server uses too); this module only frames requests, keeps connections
and bounds what it reads. It is not a general client: no redirects (the caller decides
what a 3xx means), no proxies, no cookies, a request body always of known length.

Why not aiohttp here: a delivery through aiohttp cost 95-107 µs of the event loop, through
this pool 33-39 µs, and the hub delivered 11-25% more orders a second end to end with one
process, 15-25% with two (docs/benchmarks.md, "HTTP in and out, measured"). aiohttp stays
for the rest (OAuth tokens, polling), where a request now and then costs nothing that
matters.

Failures: `WireError` (an `OSError`) for a connection refused, reset or closed before the
whole answer came, and for an answer that is not HTTP; `TimeoutError` past ``timeout``;
`InvalidRequest` (a `ValueError`) for a header that cannot be sent as it is.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import cast

import httptools
from multidict import CIMultiDict
from yarl import URL

__all__ = ["ConnectionPool", "InvalidRequest", "RawAnswer", "WireError"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class WireError(ConnectionError):
    """The connection failed, or what came back is not an HTTP answer."""


class InvalidRequest(ValueError):
    """A request that cannot be sent as asked (a header name or value that would break
    the request's framing)."""


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """An answer as read: the body decoded if it came compressed, cut at the limit."""

    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection: a request is written, its answer parsed as it comes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False  # set when an answer ended and the server keeps the connection
        self.used_at = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[RawAnswer] | None = None
        self._heard = False  # any byte received since the last request was sent
        self._limits = (0, 0)
        self._limit = 0
        self._reset()

    def _reset(self) -> None:
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._got_head = False
        self._framed = False  # Content-Length or chunked: the end is in the answer itself

    # -- asyncio -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's are not registered as asyncio.Transport subclasses)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # nothing asked: the server talks out of turn
            self._fail(WireError("the target sent bytes that answer no request"))
            return
        self._heard = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(WireError("the target switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(WireError(f"the target's answer is not valid HTTP/1.1 ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._answer is None or self._answer.done():
            return
        if self._got_head and not self._framed:  # its body ends where the connection does
            self._finish()
            return
        what = "closed the connection" if exc is None else f"lost the connection ({exc})"
        self._fail(WireError(f"the target {what} before its whole answer"))

    # -- httptools -----------------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._got_head = True
        ok = 200 <= self._parser.get_status_code() < 300
        self._limit = self._limits[0] if ok else self._limits[1]
        for name, value in self._headers:
            lower = name.lower()
            if lower == "content-length" or (
                lower == "transfer-encoding" and "chunked" in value.lower()
            ):
                self._framed = True

    def on_body(self, body: bytes) -> None:
        room = self._limit - self._size
        self._body.append(body[:room])
        self._size += min(len(body), room)
        if len(body) > room and self._answer is not None:
            self._finish(cut=True)  # more than the limit: the rest is not wanted

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:
            self._reset()  # an interim answer (e.g. 103 Early Hints): the real one follows
            return
        self._finish()

    # -- requests ------------------------------------------------------------------------

    @property
    def began_answer(self) -> bool:
        """Whether any byte came back for the last request (an answer, or garbage)."""
        return self._heard

    def send(self, data: bytes, limits: tuple[int, int]) -> asyncio.Future[RawAnswer]:
        """Write a request; its answer, the body cut at ``limits[0]`` bytes for a 2xx,
        ``limits[1]`` for others."""
        assert self.transport is not None
        self._reset()
        self._heard = False
        self._limits = limits
        self._limit = max(limits)
        self.reusable = False
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._answer

    def _finish(self, *, cut: bool = False) -> None:
        answer, self._answer = self._answer, None
        if answer is None or answer.done():
            return
        headers = CIMultiDict(self._headers)
        body = b"".join(self._body)
        coding = headers.get("Content-Encoding", "").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate") and body:
            body = _decompressed(body, self._limit)
        self.reusable = not cut and self._parser.should_keep_alive()
        self.used_at = time.monotonic()
        status = self._parser.get_status_code()
        answer.set_result(RawAnswer(status, self._reason.decode("latin-1"), headers, body))
        if cut and self.transport is not None:
            self.transport.abort()

    def time_out(self) -> None:
        """The request's time is up: fail it with TimeoutError and drop the connection."""
        self._fail(TimeoutError())

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


def _decompressed(body: bytes, limit: int) -> bytes:
    """A gzip or deflate body, decoded up to ``limit`` bytes; as it came if it does not
    decode (the caller shows it, masked, or finds nothing in it)."""
    for wbits in (47, -15):  # gzip or zlib (by their headers), then raw deflate
        try:
            return zlib.decompressobj(wbits).decompress(body, limit)
        except zlib.error:
            continue
    return body


class ConnectionPool:
    """Requests to one origin; see the module docstring."""

    def __init__(
        self, base_url: URL, *, size: int, timeout: float, keepalive: float = 15.0
    ) -> None:
        self._host = base_url.raw_host or ""
        self._port = base_url.port or (443 if base_url.scheme == "https" else 80)
        self._authority = base_url.host_port_subcomponent or self._host
        self._ssl = ssl.create_default_context() if base_url.scheme == "https" else None
        self._timeout = timeout
        self._keepalive = keepalive
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []  # last used last
        self._names: set[str] = set()  # header names found valid
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        limits: tuple[int, int],
    ) -> RawAnswer:
        """Send ``method target`` with ``headers`` and ``body``; the answer, its body cut
        at ``limits[0]`` bytes for a 2xx and ``limits[1]`` for others. Host and
        Content-Length are added."""
        data = self._request_bytes(method, target, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        if self._slots.locked():  # every connection busy: the wait counts towards the timeout
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            connection = self._take_idle()
            if connection is not None:
                try:
                    return await self._exchange(connection, data, limits, deadline)
                except WireError:
                    if connection.began_answer:
                        raise  # the target had begun answering: this request reached it
                    # else the server had closed it while idle: once more on a new one
            async with asyncio.timeout_at(deadline):
                connection = await self._connect()
            return await self._exchange(connection, data, limits, deadline)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close the idle connections; one in use closes once its answer is in."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _request_bytes(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self._authority}\r\n"]
        for name, value in headers:
            if name not in self._names:
                if not _TOKEN.fullmatch(name):
                    raise InvalidRequest(f"header name {name!r} is not valid in HTTP")
                self._names.add(name)
            if "\r" in value or "\n" in value or "\0" in value:
                raise InvalidRequest(f"header {name} has a line break or NUL in its value")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:  # UTF-8, as aiohttp and most clients send text outside Latin-1
            return "".join(lines).encode() + body
        except UnicodeEncodeError as exc:
            raise InvalidRequest(f"a header cannot be encoded ({exc.reason})") from None

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            transport = connection.transport
            if (
                connection.reusable
                and transport is not None
                and not transport.is_closing()
                and now - connection.used_at < self._keepalive
            ):
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        if self._closed:
            raise WireError("the endpoint's connections are closed")
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise WireError(f"cannot connect to {self._authority}: {reason}") from exc
        return connection

    async def _exchange(
        self, connection: _Connection, data: bytes, limits: tuple[int, int], deadline: float
    ) -> RawAnswer:
        # One timer, not asyncio.timeout: this runs for every delivery.
        answer = connection.send(data, limits)
        timer = asyncio.get_running_loop().call_at(deadline, connection.time_out)
        try:
            result = await answer
        except BaseException:
            connection.reusable = False
            if connection.transport is not None:
                connection.transport.abort()
            raise
        finally:
            timer.cancel()
        if connection.reusable and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        return result
