"""The HTTP protocol the hub serves the intake with: uvicorn's httptools protocol, bounded.

- A request line and headers larger than ``max_header_bytes`` are answered 431 and the
  connection is closed, without reading further: a sender cannot make the hub hold an
  endless header (the parser would keep it all in memory).
- Beyond ``max_connections`` open connections, or as many requests in progress, a
  request is answered 503 ``too_busy`` with ``Retry-After`` and the connection closed;
  ``/healthz``, ``/readyz`` and ``/metrics`` are still answered, so probes do not take
  a busy hub for a dead one.
- A client that does not send a whole request line and headers within ``header_timeout``
  of connecting (or of its request's first byte, on a kept-alive connection) is answered
  408 and the connection closed: connections that send nothing, or trickle their
  headers in (a "slowloris"), cannot pile up until ``max_connections`` refuses everyone.
- A request the parser cannot read is answered 400 with the intake's JSON error body.
- A client that ends its side of the connection after a whole request (a half-close)
  still gets the answer.
- What the protocol writes in one turn of the event loop leaves in one write at its end
  (`CoalescedTransport`): uvicorn writes an answer's status line and headers, then its
  body; sent together they cost the hub one system call and the sender one wake-up less.

All four answers have the body ``{"error": ..., "detail": ...}`` of every refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, ClassVar

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from crossdock.config import ServerSettings
from crossdock.intake.http import ASGIApp, Receive, Scope, Send

__all__ = ["CoalescedTransport", "IntakeProtocol", "intake_protocol", "uvicorn_config"]

_PROBES = frozenset({b"/healthz", b"/readyz", b"/metrics"})
_HANG_UP_AFTER = 1.0  # seconds between a refusal the parser could not get past and closing
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _answer(status: int, error: str, detail: str, *extra: tuple[bytes, bytes]) -> bytes:
    body = orjson.dumps({"error": error, "detail": detail})
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        *(name + b": " + value for name, value in extra),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class IntakeProtocol(HttpToolsProtocol):
    """See the module docstring; `intake_protocol` sets the limits."""

    max_header_bytes: ClassVar[int] = 32_768
    max_connections: ClassVar[int] = 2048
    retry_after: ClassVar[int] = 5
    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # the next bytes belong to a request line or headers
        self._head_bytes = 0  # received while in the head (a head that has not ended)
        self._chunk = 0  # bytes in the read being parsed
        self._counted = False  # whether they are in _head_bytes
        self._hanging_up = False
        self._client_done = False  # the client half-closed after a whole request
        self._head_timer: asyncio.TimerHandle | None = None  # runs while a head is awaited

    # uvicorn narrows asyncio's BaseTransport to Transport (and ignores the same check)
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedTransport(transport, self.loop))
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self._await_head()  # the head of a pipelined request: the answer before comes first
            return
        if self._in_head and not self._hanging_up and not self.transport.is_closing():
            detail = f"the request line and headers did not arrive within {self.header_timeout:g} s"
            self._refuse(_answer(408, "request_timeout", detail))

    def data_received(self, data: bytes) -> None:
        if self._hanging_up:
            return  # read and dropped, so that the client gets the answer (see _refuse)
        if self._in_head:
            self._await_head()  # a request begins (on a kept-alive connection: now)
        counted = self._counted = self._in_head
        self._chunk = len(data)
        if counted:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after all of it: every byte counted is part of the head.
        over = counted and self._in_head and self._head_bytes > self.max_header_bytes
        if over and not self.transport.is_closing():
            limit = self.max_header_bytes
            detail = f"the request line and headers are larger than {limit} bytes"
            self._refuse(_answer(431, "header_too_large", detail))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_arrived()
        # The head is no larger than what came while in it (or than this read, if it
        # began mid-read): only a head that may be too large is measured.
        bound = self._head_bytes if self._counted else self._chunk
        self._head_bytes = 0
        if bound > self.max_header_bytes and self._head_size() > self.max_header_bytes:
            self._answer_with(self._header_too_large)
        elif self._busy() and httptools.parse_url(self.url).path not in _PROBES:
            self._answer_with(self._too_busy)
        else:
            super().on_headers_complete()

    def _head_size(self) -> int:
        """The request line and headers as sent (give or take the method and version)."""
        return len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)

    def _answer_with(self, app: Any) -> None:
        """Handle the request with ``app`` instead of the intake."""
        intake = self.app
        self.app = app
        try:
            super().on_headers_complete()
        finally:
            self.app = intake

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request's head: timed from its first byte
        self._head_bytes = 0

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's signature
        """The client ended its side. With a whole request still being answered, keep
        the connection open for the answer (it may be a 202: the message is stored, and
        a sender that never saw it would send it again); else close as usual."""
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._client_done = True
            return True
        return None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._client_done and not self.pipeline:
            self.transport.close()  # nothing more can come

    def send_400_response(self, msg: str) -> None:
        self._refuse(_answer(400, "bad_request", "the request is not valid HTTP/1.1"))

    def _busy(self) -> bool:
        limit = self.max_connections
        return len(self.connections) > limit or len(self.tasks) >= limit

    def _refuse(self, answer: bytes) -> None:
        """Answer, stop reading requests, and hang up a second later. Closing at once
        with the client's bytes unread would reset the connection, and the client could
        lose the answer; meanwhile what it still sends is dropped as it comes."""
        self._hanging_up = True
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(_HANG_UP_AFTER, self.transport.close)

    async def _header_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_header_bytes
        detail = f"the request line and headers are larger than {limit} bytes"
        await _send_refusal(send, 431, "header_too_large", detail)

    async def _too_busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"more than {self.max_connections} connections or requests at once; retry later"
        retry = (b"retry-after", b"%d" % self.retry_after)
        await _send_refusal(send, 503, "too_busy", detail, retry)


class CoalescedTransport(asyncio.Transport):
    """``transport``, but what is written to it in one turn of the event loop is sent in
    one write at the end of that turn. Closing it, or ending its side, sends what is
    pending first; aborting it drops it."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is pending now (nothing once the connection is lost)."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        pending = sum(map(len, self._pending or ()))
        return self._transport.get_write_buffer_size() + pending

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


async def _send_refusal(
    send: Send, status: int, error: str, detail: str, *extra: tuple[bytes, bytes]
) -> None:
    """A refusal through ASGI; the connection is closed after it (the body is not read)."""
    body = orjson.dumps({"error": error, "detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def intake_protocol(
    *, max_header_bytes: int, max_connections: int, retry_after: int, header_timeout: float
) -> type[IntakeProtocol]:
    """`IntakeProtocol` with these limits (uvicorn's ``http=`` setting)."""

    class Configured(IntakeProtocol):
        pass

    Configured.max_header_bytes = max_header_bytes
    Configured.max_connections = max_connections
    Configured.retry_after = retry_after
    Configured.header_timeout = header_timeout
    return Configured


def uvicorn_config(
    app: ASGIApp, server: ServerSettings, *, port: int | None = None
) -> uvicorn.Config:
    """How the hub serves ``app``: on ``server``'s host and port (or ``port``: 0 for any
    free one), with `IntakeProtocol` and its limits, no lifespan (the hub starts and stops
    the intake itself), no event loop set-up and no logging of its own."""
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port if port is None else port,
        lifespan="off",
        log_config=None,
        access_log=False,
        loop="none",
        http=intake_protocol(
            max_header_bytes=server.max_header_bytes,
            max_connections=server.max_connections,
            retry_after=server.retry_after,
            header_timeout=server.header_timeout.total_seconds(),
        ),
        # The hub uses no client address (nothing to take from X-Forwarded-For) and
        # names no server: less work per request.
        proxy_headers=False,
        server_header=False,
    )
