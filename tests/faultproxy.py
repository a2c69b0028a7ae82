"""A loopback fault proxy: forwards HTTP/1.1 to a target, or fails on purpose.

    async with FaultProxy("127.0.0.1", target_port) as proxy:
        sink_settings = {"base_url": proxy.url, ...}
        await proxy.set_mode(Mode.RESET_MID_ANSWER)
        ...

It listens on 127.0.0.1 (a random port) and handles one request per connection: every
answer it forwards or makes up says ``Connection: close``, so each request meets the mode
current when it arrives, whatever the client pools. Modes (switch with `set_mode` at any
time):

- ``PASS``: forward the request, forward the answer.
- ``DELAY``: as PASS, but hold the target's answer back ``delay_ms`` first.
- ``REFUSE``: stop listening: connections are refused (ECONNREFUSED) until another mode
  is set, which listens again on the same port.
- ``RESET``: reset each connection (RST, via SO_LINGER 0) as soon as it is accepted.
- ``RESET_MID_ANSWER``: forward the request, pass on the answer's head and its first
  ``body_bytes`` body bytes, then reset. The target *has* received the request.
- ``ANSWER_500``, ``ANSWER_429`` (with ``Retry-After: <retry_after>``): answer that,
  without asking the target.
- ``GARBAGE``: answer bytes that are not HTTP, then close.

Requests must carry their body with Content-Length (chunked request bodies are not
supported). Counters: ``accepted`` connections, ``requests`` read, ``forwarded`` to the
target.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from enum import StrEnum
from types import TracebackType

__all__ = ["FaultProxy", "Mode"]

_HOST = "127.0.0.1"
_GARBAGE = b"\x16\x03\x01\x02\x00 fault proxy: this is not HTTP \xff\xfe\r\n\r\n"


class Mode(StrEnum):
    PASS = "pass"
    DELAY = "delay"
    REFUSE = "refuse"
    RESET = "reset"
    RESET_MID_ANSWER = "reset_mid_answer"
    ANSWER_500 = "answer_500"
    ANSWER_429 = "answer_429"
    GARBAGE = "garbage"


class FaultProxy:
    """See the module docstring. Use as ``async with`` or `start` / `stop`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = Mode.PASS
        self.delay_ms = 0
        self.retry_after = "1"
        self.body_bytes = 1
        self.accepted = 0
        self.requests = 0
        self.forwarded = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (on a random port the first time, then on the same one)."""
        self._stopping = False
        self._server = await asyncio.start_server(
            self._handle, _HOST, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        self._stopping = True
        self._stop_listening()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def set_mode(
        self,
        mode: Mode,
        *,
        delay_ms: int = 0,
        retry_after: str | int = 1,
        body_bytes: int = 1,
    ) -> None:
        """Apply ``mode`` to every request from now on (see the module docstring)."""
        self.delay_ms, self.retry_after, self.body_bytes = delay_ms, str(retry_after), body_bytes
        self.mode = mode
        if mode is Mode.REFUSE:
            self._stop_listening()
        elif self._server is None:
            await self.start()

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()  # the listening socket closes now; connections live on
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # only `stop` cancels a handler; ending cancelled makes asyncio's stream server
            # (Python < 3.12) log "Exception in callback", so end quietly instead
            if not self._stopping:
                raise
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.RESET:
            _reset(writer)
            return
        request = await _read_request(reader)
        if request is None:
            return
        self.requests += 1
        mode = self.mode
        if mode in (Mode.PASS, Mode.DELAY, Mode.RESET_MID_ANSWER):
            await self._forward(request, writer, mode)
            return
        writer.write(self._made_up_answer(mode))
        await writer.drain()

    def _made_up_answer(self, mode: Mode) -> bytes:
        if mode is Mode.ANSWER_500:
            return _answer("500 Internal Server Error", b"fault proxy: 500")
        if mode is Mode.ANSWER_429:
            extra = f"Retry-After: {self.retry_after}\r\n".encode()
            return _answer("429 Too Many Requests", b"fault proxy: 429", extra)
        return _GARBAGE  # GARBAGE (REFUSE is not listening; a late request gets this too)

    async def _forward(self, request: bytes, writer: asyncio.StreamWriter, mode: Mode) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        try:
            up_writer.write(request)
            await up_writer.drain()
            self.forwarded += 1
            head = await up_reader.readuntil(b"\r\n\r\n")
            if mode is Mode.DELAY:
                await asyncio.sleep(self.delay_ms / 1000)
            if mode is Mode.RESET_MID_ANSWER:
                part = await up_reader.read(self.body_bytes) if self.body_bytes else b""
                writer.write(_closing(head) + part)
                await writer.drain()
                _reset(writer)
                return
            writer.write(_closing(head))
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError):
                await up_writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole request (head with ``Connection: close``, and body), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("fault proxy: chunked request bodies are not supported")
    body = await reader.readexactly(length) if length else b""
    return _closing(head) + body


def _closing(head: bytes) -> bytes:
    """``head`` (a request's or an answer's) with ``Connection: close`` as its only
    connection header."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line.partition(b":")[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    return b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])


def _answer(status: str, body: bytes, extra: bytes = b"") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
