"""The delivery connections (`wire.ConnectionPool`) against a loopback server that answers
byte for byte as scripted: interim answers, compressed and unframed bodies, connections
closed while idle, oversized answers, headers that would break the request."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from http_target import MakeSink, delivery
from yarl import URL

from crossdock.connectors.http.wire import ConnectionPool, InvalidRequest
from crossdock.core.envelope import Message
from crossdock.core.errors import PermanentError, TransientError

OK = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n"
OK_BODY = b'{"id": "A-17"}'


class Scripted:
    """Answers each request with the next scripted bytes (then closes the connection if
    the script says so); records each request's head and the connection it came on."""

    def __init__(self) -> None:
        self.script: list[tuple[bytes, bool]] = []  # (answer, close after it)
        self.requests: list[tuple[int, bytes]] = []  # (connection number, head)
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests.append((number, head))
                answer, close = self.script.pop(0) if self.script else (OK + OK_BODY, False)
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    await scripted.start()
    yield scripted
    await scripted.stop()


async def test_connections_are_kept_and_reused(server: Scripted, make_sink: MakeSink) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", response_id="id")
    for _ in range(5):
        receipt = await sink.deliver(delivery({"n": 1}))
        assert (receipt.status, receipt.target_id) == (201, "A-17")
    assert server.connections == 1
    head = server.requests[0][1].decode("latin-1")
    assert head.startswith("POST / HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in head
    assert "\r\nIdempotency-Key: " in head and "\r\nContent-Length: " in head


async def test_a_connection_closed_while_idle_is_replaced_without_a_failed_attempt(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}")
    server.script = [(OK + OK_BODY, True)]  # answered with keep-alive, then closed
    assert (await sink.deliver(delivery({"n": 1}))).status == 201
    await asyncio.sleep(0.05)
    assert (await sink.deliver(delivery({"n": 2}))).status == 201
    assert [number for number, _ in server.requests] == [1, 2]  # each sent once


async def test_garbage_on_a_kept_connection_is_not_sent_again(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}")
    server.script = [(OK + OK_BODY, False), (b"NOT HTTP AT ALL\r\n\r\n", True)]
    assert (await sink.deliver(delivery({"n": 1}))).status == 201
    with pytest.raises(TransientError, match="not valid HTTP"):
        await sink.deliver(delivery({"n": 2}))
    assert len(server.requests) == 2  # the target had answered: no second try within it


async def test_an_answer_exactly_at_the_limit_keeps_its_connection(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", max_error_body=100)
    body = b"y" * (100 + 64 * 1024)  # max_error_body plus the masking margin
    server.script = [(b"HTTP/1.1 400 Bad\r\nContent-Length: %d\r\n\r\n" % len(body) + body, False)]
    with pytest.raises(PermanentError, match="answered 400 Bad"):
        await sink.deliver(delivery({"n": 1}))
    assert (await sink.deliver(delivery({"n": 2}))).status == 201
    assert [number for number, _ in server.requests] == [1, 1]  # the same connection


async def test_interim_answers_are_skipped(server: Scripted, make_sink: MakeSink) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", response_id="id")
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    server.script = [(early + OK + OK_BODY, False)]
    receipt = await sink.deliver(delivery({"n": 1}))
    assert (receipt.status, receipt.target_id) == (201, "A-17")


async def test_compressed_chunked_and_unframed_answers_are_read(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", response_id="id")
    packed = gzip.compress(b'{"id": "GZ-1"}')
    gzipped = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
        + packed
    )
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7\r\n{"id": \r\n7\r\n"CH-1"}\r\n0\r\n\r\n'
    )
    unframed = b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"id": "EOF-1"}'
    server.script = [(gzipped, False), (chunked, False), (unframed, True)]
    ids = [(await sink.deliver(delivery({"n": n}))).target_id for n in range(3)]
    assert ids == ["GZ-1", "CH-1", "EOF-1"]


async def test_an_oversized_answer_is_cut_and_its_connection_dropped(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", max_error_body=100)
    huge = b"x" * 1_000_000
    server.script = [
        (b"HTTP/1.1 422 Unprocessable\r\nContent-Length: %d\r\n\r\n" % len(huge) + huge, False)
    ]
    with pytest.raises(PermanentError, match="answered 422 Unprocessable") as caught:
        await sink.deliver(delivery({"n": 1}))
    assert "[truncated]" in str(caught.value)
    assert (await sink.deliver(delivery({"n": 2}))).status == 201
    assert [number for number, _ in server.requests] == [1, 2]  # a new connection


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "nul\x00"])
async def test_a_header_that_would_break_the_request_is_refused(
    value: str, server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=f"http://127.0.0.1:{server.port}", correlation_header="X-Corr")
    message = Message.new(
        flow="orders", source="shop", event_type="order.created", body={}, correlation_id=value
    )
    with pytest.raises(PermanentError, match="line break or NUL"):
        await sink.deliver(delivery({"n": 1}, message=message))
    pool = ConnectionPool(URL(f"http://127.0.0.1:{server.port}"), size=1, timeout=2.0)
    with pytest.raises(InvalidRequest, match="not valid in HTTP"):
        await pool.request("POST", "/", [("Bad Name", "x")], b"{}", (100, 100))
    await pool.close()
    assert server.requests == []  # nothing was sent


async def test_header_text_outside_latin_1_is_sent_as_utf_8(
    server: Scripted, make_sink: MakeSink
) -> None:
    sink = await make_sink(
        base_url=f"http://127.0.0.1:{server.port}", headers={"X-Site": "Zürich ✓"}
    )
    assert (await sink.deliver(delivery({"n": 1}))).status == 201
    assert "\r\nX-Site: Zürich ✓\r\n".encode() in server.requests[0][1]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_targets_are_verified(
    certificate: tuple[Path, Path], make_sink: MakeSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Scripted()
    server._server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=context)
    port = server._server.sockets[0].getsockname()[1]
    try:
        untrusted = await make_sink(base_url=f"https://127.0.0.1:{port}")
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.deliver(delivery({"n": 1}))
        assert server.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted from here on
        trusted = await make_sink(base_url=f"https://127.0.0.1:{port}", response_id="id")
        receipt = await trusted.deliver(delivery({"n": 2}))
        assert (receipt.status, receipt.target_id) == (201, "A-17")
        assert len(server.requests) == 1
    finally:
        await server.stop()
