"""HTTP details a hostile or sloppy sender tries: encoded paths, repeated and padded
headers, content and transfer codings, HEAD, and what an early refusal does to the
connection. Raw requests over loopback; nothing refused is stored."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import pytest
from intake_kit import SECRETS, Intake

from crossdock.intake import sign_sha256

ORDER = b'{"order": {"id": 1, "lines": [{"sku": "a"}]}}'
SIGNED = orjson.dumps({"id": "T-1"})


async def exchange(intake: Intake, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one hand-made request; its status, headers (lowercase names) and body (none
    for HEAD, whatever its length says)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in filter(None, lines):
            name, _, value = line.partition(":")
            headers[name.strip().lower().encode()] = value.strip().encode()
        length = int(headers.get(b"content-length", b"0"))
        if request.startswith(b"HEAD ") or not length:
            return int(status_line.split()[1]), headers, b""
        body = await asyncio.wait_for(reader.readexactly(length), 5)
        return int(status_line.split()[1]), headers, body
    finally:
        writer.close()


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@pytest.mark.parametrize(
    "path", ["/hooks%2Fshop", "/hooks%2fshop", "/%68ooks/shop", "/hooks/%73hop", "/hooks/sho%70"]
)
async def test_percent_encoded_routes_are_not_found(intake: Intake, path: str) -> None:
    status, _, body = await exchange(intake, post(path, ORDER, "Content-Type: application/json"))
    assert (status, orjson.loads(body)["error"]) == (404, "not_found")
    assert await intake.stored() == []


async def test_a_second_signature_header_is_not_ignored(intake: Intake) -> None:
    good = sign_sha256(SECRETS["NEW"].encode(), SIGNED)
    typ = "Content-Type: application/json"
    for first, second in ((good, "garbage"), ("garbage", good)):
        request = post(
            "/hooks/signed", SIGNED, typ, f"X-Signature: {first}", f"X-Signature: {second}"
        )
        status, _, _ = await exchange(intake, request)
        assert status == 401, (first, second)
    status, _, _ = await exchange(
        intake, post("/hooks/signed", SIGNED, typ, f"X-Signature: {good}")
    )
    assert status == 202


async def test_two_content_types_are_not_resolved_by_order(intake: Intake) -> None:
    request = post(
        "/hooks/shop",
        ORDER,
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: application/json",
    )
    status, _, body = await exchange(intake, request)
    assert (status, orjson.loads(body)["error"]) == (415, "unsupported_media_type")
    assert await intake.stored() == []


async def test_spaces_around_an_idempotency_key_are_not_part_of_it(intake: Intake) -> None:
    ids = set()
    for key in ("k3", "k3 ", "k3\t", " k3"):
        request = post(
            "/hooks/shop", ORDER, "Content-Type: application/json", f"Idempotency-Key: {key}"
        )
        status, _, body = await exchange(intake, request)
        assert status == 202
        ids.add(tuple(orjson.loads(body)["ids"]))
    assert len(ids) == 1


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate, gzip"])
async def test_content_codings_are_refused(intake: Intake, coding: str) -> None:
    request = post(
        "/hooks/shop", ORDER, "Content-Type: application/json", f"Content-Encoding: {coding}"
    )
    status, _, body = await exchange(intake, request)
    assert (status, orjson.loads(body)["error"]) == (415, "unsupported_media_type")
    assert coding in orjson.loads(body)["detail"]
    assert await intake.stored() == []


async def test_identity_content_coding_is_plain(intake: Intake) -> None:
    request = post(
        "/hooks/shop", ORDER, "Content-Type: application/json", "Content-Encoding: identity"
    )
    status, _, _ = await exchange(intake, request)
    assert status == 202


async def test_transfer_codings_other_than_chunked_are_refused(intake: Intake) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ORDER), ORDER)
    head = (
        b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n"
    )
    status, _, body = await exchange(intake, head + chunked)
    assert (status, orjson.loads(body)["error"]) == (501, "not_implemented")
    assert await intake.stored() == []


async def test_an_early_413_closes_the_connection(intake: Intake) -> None:
    head = (
        b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in answer.lower()
        rest = await asyncio.wait_for(reader.read(), 5)  # the body, then the hang-up
        assert b"payload_too_large" in rest
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
async def test_head_works_where_get_does(intake: Intake, path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        # no body after HEAD's headers: the next bytes are the next answer's
        following = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert following.startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()


async def test_xml_attributes_that_meet_once_namespaces_go_are_refused(intake: Intake) -> None:
    xml = b'<order xmlns:p="urn:p" xmlns:q="urn:q" p:id="1" q:id="2"/>'
    status, _, body = await exchange(
        intake, post("/hooks/shop", xml, "Content-Type: application/xml")
    )
    assert (status, orjson.loads(body)["error"]) == (400, "malformed_body")
    assert "same name" in orjson.loads(body)["detail"]
    assert await intake.stored() == []


async def test_headers_over_the_limit_are_refused_without_reading_on(intake: Intake) -> None:
    """32 KiB by default: a header that never ends is answered 431 as soon as it passes
    the limit (the hub keeps none of it), and the hub ends its side of the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    answer = asyncio.create_task(reader.read())  # until the hub's end of stream
    try:
        writer.write(b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < 5_000_000 and not answer.done():
                writer.write(b"a" * 16384)
                await writer.drain()
                sent += 16384
                await asyncio.sleep(0.001)
        got = await asyncio.wait_for(answer, 5)
    finally:
        writer.close()
    assert got.startswith(b"HTTP/1.1 431 "), got[:100]
    assert b'"error":"header_too_large"' in got
    assert sent < 1_000_000  # the answer came long before
    assert await intake.stored() == []


async def test_many_small_headers_count_too(intake: Intake) -> None:
    many = "".join(f"X-H{n}: v\r\n" for n in range(5000))  # ~55 KB in all
    request = f"POST /hooks/shop HTTP/1.1\r\nHost: x\r\n{many}Content-Length: 2\r\n\r\n{{}}"
    status, headers, body = await exchange(intake, request.encode())
    assert (status, orjson.loads(body)["error"]) == (431, "header_too_large")
    assert headers[b"connection"] == b"close"


async def test_headers_within_the_limit_are_fine(intake: Intake) -> None:
    request = post("/hooks/shop", ORDER, "Content-Type: application/json", "X-Pad: " + "p" * 20_000)
    status, _, _ = await exchange(intake, request)
    assert status == 202


async def test_a_request_that_is_not_http_gets_the_json_error_body(intake: Intake) -> None:
    status, headers, body = await exchange(intake, b"POST /hooks/shop HTTP/1.1\r\nHost x\r\n\r\n")
    assert (status, orjson.loads(body)["error"]) == (400, "bad_request")
    assert headers[b"content-type"] == b"application/json"


async def test_a_sender_that_half_closes_after_its_request_gets_its_answer(
    intake: Intake,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(post("/hooks/shop", ORDER, "Content-Type: application/json"))
        await writer.drain()
        writer.write_eof()  # shutdown(SHUT_WR): nothing more will come
        answer = await asyncio.wait_for(reader.read(), 5)  # then the hub closes too
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 202 ")
    stored = await intake.stored()  # one message per flow the endpoint feeds
    assert stored
    assert all(m.id.encode() in answer for m in stored)


async def test_a_body_cut_off_by_a_half_close_is_not_waited_for(intake: Intake) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        request = post("/hooks/shop", ORDER, "Content-Type: application/json")
        writer.write(request[:-5])
        await writer.drain()
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 5)  # not the 30 s read timeout
    finally:
        writer.close()
    assert answer == b""  # nobody left to answer; nothing stored
    assert await intake.stored() == []


@pytest.mark.parametrize(
    ("version", "hosts", "expected"),
    [
        ("HTTP/1.1", [], 400),
        ("HTTP/1.1", ["Host: a", "Host: b"], 400),
        ("HTTP/1.0", ["Host: a", "Host: b"], 400),
        ("HTTP/1.0", [], 202),
        ("HTTP/1.1", ["Host: a"], 202),
    ],
)
async def test_a_request_has_one_host(
    intake: Intake, version: str, hosts: list[str], expected: int
) -> None:
    head = [f"POST /hooks/shop {version}", *hosts, f"Content-Length: {len(ORDER)}"]
    head.append("Content-Type: application/json")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + ORDER
    status, _, body = await exchange(intake, request)
    assert status == expected, body
    assert bool(await intake.stored()) == (expected == 202)  # nothing stored when refused


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/9.9"])
async def test_only_http_1_0_and_1_1_are_served(intake: Intake, version: str) -> None:
    head = [f"POST /hooks/shop {version}", "Host: x", f"Content-Length: {len(ORDER)}"]
    head.append("Content-Type: application/json")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + ORDER
    status, headers, body = await exchange(intake, request)
    assert (status, orjson.loads(body)["error"]) == (400, "bad_request")
    assert headers[b"connection"] == b"close"
    assert await intake.stored() == []


async def test_an_http_1_0_request_with_transfer_encoding_is_refused(intake: Intake) -> None:
    """RFC 9112 6.1: its framing is faulty, whatever the parser made of it; a proxy in
    front of the hub may have read it otherwise (request smuggling)."""
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ORDER), ORDER)
    for framing in ("Transfer-Encoding: chunked", f"Content-Length: {len(chunked)}"):
        head = ["POST /hooks/shop HTTP/1.0", "Content-Type: application/json", framing]
        if framing.startswith("Content-Length"):
            head.append("Transfer-Encoding: chunked")
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + chunked
        status, headers, body = await exchange(intake, request)
        assert (status, orjson.loads(body)["error"]) == (400, "bad_request"), framing
        assert headers[b"connection"] == b"close"
    assert await intake.stored() == []


async def test_an_asgi_server_that_names_no_version_means_http_1_1(intake: Intake) -> None:
    """ASGI: a scope without ``http_version`` is HTTP/1.1 (so it needs its Host)."""
    answers = []
    for host in ([], [(b"host", b"x")]):
        sent: list[dict[str, Any]] = []
        parts = [{"type": "http.request", "body": ORDER, "more_body": False}]

        async def receive(parts: list[dict[str, Any]] = parts) -> dict[str, Any]:
            return parts.pop(0) if parts else {"type": "http.disconnect"}

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/hooks/shop",
            "raw_path": b"/hooks/shop",
            "query_string": b"",
            "headers": [*host, (b"content-type", b"application/json")],
        }
        await intake.app(scope, receive, send)
        answers.append(sent[0]["status"])
    assert answers == [400, 202]
