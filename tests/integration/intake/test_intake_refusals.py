"""Refused webhooks: each step's status code, a JSON error, and nothing stored."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from intake_kit import CONFIG, SECRETS, Intake, Reply, serve, write_config

from crossdock.intake import sign_sha256, sign_standard_webhooks
from crossdock.intake.hooks import plan_hooks

SIGNED_BODY = orjson.dumps({"id": "T-1", "text": "hello"})


async def refused(intake: Intake, reply: Reply, status: int, error: str) -> None:
    """The reply is a refusal with this status and error, and the store is empty."""
    assert reply.status == status, reply
    assert set(reply.json) == {"error", "detail"}
    assert reply.json["error"] == error
    assert await intake.stored() == []


# -- signatures -----------------------------------------------------------------------


async def test_sha256_signed_with_either_rotated_secret_is_accepted(intake: Intake) -> None:
    for name, prefix in (("OLD", ""), ("NEW", "sha256="), ("NEW", "SHA256=")):
        signature = prefix + sign_sha256(SECRETS[name].encode(), SIGNED_BODY)
        reply = await intake.post_json("signed", SIGNED_BODY, **{"X-Signature": signature})
        assert reply.status == 202, (name, reply.json)
    assert len(await intake.stored()) == 3


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "not hex",
        sign_sha256(b"wrong-secret", SIGNED_BODY),
        sign_sha256(SECRETS["NEW"].encode(), SIGNED_BODY + b" "),  # for another body
        sign_sha256(SECRETS["NEW"].encode(), SIGNED_BODY)[:-2],  # truncated
        "sha1=" + sign_sha256(SECRETS["NEW"].encode(), SIGNED_BODY),
    ],
)
async def test_sha256_bad_signature_401(intake: Intake, signature: str | None) -> None:
    headers = {} if signature is None else {"X-Signature": signature}
    reply = await intake.post_json("signed", SIGNED_BODY, **headers)
    await refused(intake, reply, 401, "unauthorized")
    assert reply.json["detail"] == "bad signature"


def standard_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return {
        "webhook-id": f"msg_{stamp}_{len(body)}",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard_webhooks(
            secret.encode(), f"msg_{stamp}_{len(body)}", stamp, body
        ),
    }


async def test_standard_webhooks_with_either_secret_and_several_signatures(intake: Intake) -> None:
    one = standard_headers(SECRETS["WH1"], SIGNED_BODY)
    reply = await intake.post_json("std", SIGNED_BODY, **one)
    assert reply.status == 202, reply.json
    two = standard_headers(SECRETS["WH2"], SIGNED_BODY, at=time.time() - 60)
    two["webhook-id"] = one["webhook-id"] + "-2"
    stamp = int(two["webhook-timestamp"])
    good = sign_standard_webhooks(SECRETS["WH2"].encode(), two["webhook-id"], stamp, SIGNED_BODY)
    two["webhook-signature"] = f"v1,bm9wZQ== v1a,xyz {good}"
    reply = await intake.post_json("std", SIGNED_BODY, **two)
    assert reply.status == 202, reply.json
    assert len(await intake.stored()) == 2


async def test_standard_webhooks_id_dedups_when_configured(intake: Intake) -> None:
    headers = standard_headers(SECRETS["WH1"], SIGNED_BODY)
    first = await intake.post_json("std", SIGNED_BODY, **headers)
    again = await intake.post_json("std", SIGNED_BODY, **headers)
    assert again.json == {"ids": first.json["ids"], "duplicate": True}
    assert len(await intake.stored()) == 1


@pytest.mark.parametrize(
    "change",
    ["no-signature", "wrong-secret", "other-id", "other-timestamp", "garbage", "v2-only"],
)
async def test_standard_webhooks_bad_signature_401(intake: Intake, change: str) -> None:
    headers = standard_headers(SECRETS["WH1"], SIGNED_BODY)
    if change == "no-signature":
        del headers["webhook-signature"]
    elif change == "wrong-secret":
        headers = standard_headers("whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==", SIGNED_BODY)
    elif change == "other-id":
        headers["webhook-id"] += "x"
    elif change == "other-timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    elif change == "garbage":
        headers["webhook-signature"] = "v1,!!!"
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    reply = await intake.post_json("std", SIGNED_BODY, **headers)
    await refused(intake, reply, 401, "unauthorized")
    assert reply.json["detail"] == "bad signature"


@pytest.mark.parametrize("offset", [-301, +301, -86_400])
async def test_standard_webhooks_stale_timestamp_401(intake: Intake, offset: int) -> None:
    headers = standard_headers(SECRETS["WH1"], SIGNED_BODY, at=time.time() + offset)
    reply = await intake.post_json("std", SIGNED_BODY, **headers)
    await refused(intake, reply, 401, "unauthorized")
    assert reply.json["detail"] == "stale timestamp"


async def test_the_signature_is_checked_before_the_body_is_parsed(intake: Intake) -> None:
    reply = await intake.post("signed", b"{not json", {"Content-Type": "text/csv"})
    await refused(intake, reply, 401, "unauthorized")


# -- size -----------------------------------------------------------------------------


async def raw_exchange(intake: Intake, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a hand-made request; the server's whole answer (up to the blank line + body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(head)
        for chunk in body_chunks:
            writer.write(chunk)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(answer.split(b"content-length: ")[1].split(b"\r\n")[0])
        return answer + await asyncio.wait_for(reader.readexactly(length), 5)
    finally:
        writer.close()


async def test_a_declared_length_over_the_limit_is_refused_before_reading(intake: Intake) -> None:
    head = (
        b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    answer = await raw_exchange(intake, head, [])  # no body sent: the answer comes anyway
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"error":"payload_too_large"' in answer
    assert await intake.stored() == []


@pytest.mark.parametrize("length", [b"99999999999999999999999", b"9" * 5000, b"12x", b"-1"])
async def test_absurd_content_lengths_are_refused(intake: Intake, length: bytes) -> None:
    head = b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    try:
        writer.write(head)
        status = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert status.split()[1] in (b"400", b"413"), status  # by uvicorn or by the intake
    assert await intake.stored() == []


async def test_a_chunked_body_over_the_limit_is_refused_while_reading(intake: Intake) -> None:
    head = (
        b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b'{"order": {"id": 1, "pad": "' + b"x" * 1000
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] + [b"3e8\r\n" + b"y" * 1000 + b"\r\n"] * 4
    answer = await raw_exchange(intake, head, chunks)  # 5 kB, never finished; limit 4096
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert await intake.stored() == []


async def test_the_endpoint_limit_applies_with_aiohttp_too(intake: Intake) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * 400

    body = b" " * 1025
    signature = sign_sha256(SECRETS["NEW"].encode(), body)
    reply = await intake.post_json("signed", body, **{"X-Signature": signature})
    await refused(intake, reply, 413, "payload_too_large")
    reply = await intake.post("signed", chunks(), {"Content-Type": "application/json"})
    await refused(intake, reply, 413, "payload_too_large")


async def test_a_body_at_the_limit_is_read(intake: Intake) -> None:
    body = orjson.dumps({"order": {"id": 1, "lines": [{"sku": "s"}]}})
    body += b" " * (4096 - len(body))
    reply = await intake.post_json("shop", body)
    assert reply.status == 202


# -- content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"order": {"id": 1,}}', "line 1 column 19"),
        (b'{"order":\n  {"id": 1', "line 2 column 11"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"a": NaN}', "line 1"),
        (b'{"a": 1e999}', "infinity"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"order": {"id": 123456789012345678901234567890}}', "out of range"),
        (b'{"order": {"id": -9223372036854775809}}', "out of range"),
        (b'{"order": {"id": ' + b"9" * 300 + b"}}", "out of range"),
    ],
)
async def test_malformed_json_400_with_a_located_message(
    intake: Intake, body: bytes, where: str
) -> None:
    reply = await intake.post_json("shop", body)
    await refused(intake, reply, 400, "malformed_body")
    assert where in reply.json["detail"]


async def test_large_64_bit_integers_are_kept_exactly(intake: Intake) -> None:
    body = b'{"order": {"id": 18446744073709551615, "lines": [{"sku": -9223372036854775808}]}}'
    reply = await intake.post_json("shop", body)
    assert reply.status == 202
    keys = {s.flow: s.key for s in await intake.stored()}
    assert keys == {"orders": "18446744073709551615", "lines": "-9223372036854775808"}


@pytest.mark.parametrize("depth", [9, 100, 1000, 1100, 2000])
async def test_too_deep_json_400(intake: Intake, depth: int) -> None:
    body = b'{"order": {"id": 1, "x": ' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"
    assert len(body) <= 4096
    reply = await intake.post_json("shop", body)
    await refused(intake, reply, 400, "malformed_body")
    assert "deeper than 8" in reply.json["detail"] or "depth" in reply.json["detail"]


async def test_json_at_the_depth_limit_is_accepted(intake: Intake) -> None:
    body = b'{"order": {"id": 1, "lines": [{"sku": "a", "x": [[[[1]]]]}]}}'  # depth 8
    reply = await intake.post_json("shop", body)
    assert reply.status == 202, reply.json


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json; charset=latin-1",
    ],
)
async def test_unsupported_content_type_415(intake: Intake, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = await intake.post("shop", b'{"order": {"id": 1}}', headers)
    await refused(intake, reply, 415, "unsupported_media_type")


async def test_a_kind_the_endpoint_does_not_accept_415(intake: Intake) -> None:
    reply = await intake.post_json("desk", b'{"ticket": "T-1"}')
    await refused(intake, reply, 415, "unsupported_media_type")


async def test_json_subtypes_are_json(intake: Intake) -> None:
    body = b'{"order": {"id": 1, "lines": [{"sku": "a"}]}}'
    reply = await intake.post("shop", body, {"Content-Type": "application/vnd.shop+json"})
    assert reply.status == 202


@pytest.mark.parametrize(
    ("body", "error", "detail"),
    [
        (b'{"order": {"lines": [{"sku": "a"}]}}', "missing_key", "order.id"),
        (b'{"order": {"id": 1, "lines": []}}', "missing_key", "order.lines.0.sku"),
        (b'{"order": {"id": 1, "lines": {"0": {"sku": "a"}}}}', None, None),
        (b'{"order": {"id": null, "lines": [{"sku": "a"}]}}', "invalid_key", "null"),
        (b'{"order": {"id": true, "lines": [{"sku": "a"}]}}', "invalid_key", "bool"),
        (b'{"order": {"id": [1], "lines": [{"sku": "a"}]}}', "invalid_key", "list"),
        (b'{"order": {"id": "a\\u0000b", "lines": [{"sku": "a"}]}}', "invalid_key", "NUL"),
        (b'[{"order": {"id": 1}}]', "missing_key", "order.id"),
        (b'"just a string"', "missing_key", "order.id"),
    ],
)
async def test_ordering_keys(
    intake: Intake, body: bytes, error: str | None, detail: str | None
) -> None:
    reply = await intake.post_json("shop", body)
    if error is None:  # a digit path segment is also a plain object key
        assert reply.status == 202
        return
    await refused(intake, reply, 422, error)
    assert detail is not None
    assert detail in reply.json["detail"]


# -- XML -------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<order><id>&lol9;</id></order>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<order><id>&xxe;</id><lines><sku>a</sku></lines></order>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE order SYSTEM "http://127.0.0.1:9/evil.dtd">
<order><id>1</id><lines><sku>a</sku></lines></order>
"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
async def test_xml_bombs_and_entities_are_refused_unexpanded(intake: Intake, body: bytes) -> None:
    started = time.perf_counter()
    reply = await intake.post("shop", body, {"Content-Type": "text/xml"})
    await refused(intake, reply, 400, "malformed_body")
    assert "DTD" in reply.json["detail"]
    assert "root:" not in reply.json["detail"]
    assert "lol" not in reply.json["detail"]
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"<order><id>1</id>", "line 1, column 17"),
        (b"<order>\n<id>1</ide></order>", "line 2"),
        (b"", "no element found"),
        (b"<a/><b/>", "junk after document element"),
    ],
)
async def test_malformed_xml_400_located(intake: Intake, body: bytes, where: str) -> None:
    reply = await intake.post("shop", body, {"Content-Type": "application/xml"})
    await refused(intake, reply, 400, "malformed_body")
    assert where in reply.json["detail"]


async def test_too_deep_xml_400(intake: Intake) -> None:
    body = b"<order><id>1</id>" + b"<x>" * 9 + b"</x>" * 9 + b"</order>"
    reply = await intake.post("shop", body, {"Content-Type": "application/xml"})
    await refused(intake, reply, 400, "malformed_body")


async def test_an_invalid_form_400(intake: Intake) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for body, detail in (
        (b"ticket=caf\xc3\xa9", "not ASCII"),
        (b"ticket=%ff%fe", "not UTF-8"),
        (b"&".join([b"a=1"] * 1001), "more than 1000 fields"),
    ):
        reply = await intake.post("desk", body, headers)
        await refused(intake, reply, 400, "malformed_body")
        assert detail in reply.json["detail"]


# -- slow senders -----------------------------------------------------------------------


async def test_a_body_slower_than_the_read_timeout_is_answered_408_and_cut(
    tmp_path: Path,
) -> None:
    text = CONFIG.replace("retry_after: 7}", "retry_after: 7, read_timeout: 300ms}")
    async with serve(write_config(tmp_path, text), tmp_path / "crossdock.db") as intake:
        head = (
            b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
        try:
            writer.write(head + b'{"order": {"id": 1')  # 18 of the 100 bytes, then nothing
            await writer.drain()
            started = time.monotonic()
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            waited = time.monotonic() - started
            length = int(answer.split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await asyncio.wait_for(reader.readexactly(length), 5)
            rest = await asyncio.wait_for(reader.read(), 5)  # the hub hangs up
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in answer.lower()
        assert orjson.loads(body)["error"] == "request_timeout"
        assert rest == b""
        assert 0.25 <= waited < 3, waited
        assert await intake.stored() == []
        # a sender that keeps up is not affected
        order = {"order": {"id": 2, "lines": [{"sku": "A"}]}}
        reply = await intake.post_json("shop", orjson.dumps(order))
        assert reply.status == 202, reply.json


async def _answer_and_hang_up(
    reader: asyncio.StreamReader,
) -> tuple[bytes, dict[str, str], bytes]:
    """The hub's answer (head, JSON body), and what came after it (b"": it hung up)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), 5))
    return head, body, await asyncio.wait_for(reader.read(), 5)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\n"],
    ids=["nothing", "a head that never ends"],
)
async def test_headers_slower_than_the_header_timeout_are_answered_408_and_cut(
    tmp_path: Path, sent: bytes
) -> None:
    """A client that connects and sends nothing, or trickles its headers (a "slowloris"),
    holds a connection: after `header_timeout` it is answered 408 and disconnected, even
    while its bytes keep coming."""
    text = CONFIG.replace("retry_after: 7}", "retry_after: 7, header_timeout: 300ms}")
    async with serve(write_config(tmp_path, text), tmp_path / "crossdock.db") as intake:
        reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)

        async def trickle() -> None:
            with contextlib.suppress(OSError):
                while sent:
                    writer.write(b"X-Pad-%d: y\r\n" % time.monotonic_ns())
                    await writer.drain()
                    await asyncio.sleep(0.05)

        writer.write(sent)
        started = time.monotonic()
        trickling = asyncio.create_task(trickle())
        try:
            head, body, rest = await _answer_and_hang_up(reader)
            waited = time.monotonic() - started
        finally:
            trickling.cancel()
            writer.close()
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"connection: close" in head.lower()
        assert body["error"] == "request_timeout"
        assert rest == b""
        assert 0.25 <= waited < 3, waited
        assert await intake.stored() == []


async def test_a_kept_alive_connection_idle_between_requests_is_not_cut_by_the_header_timeout(
    tmp_path: Path,
) -> None:
    """The header timeout runs from a request's first byte (or the connection's start),
    not over the idle time between requests: that is the keep-alive's (5 s)."""
    text = CONFIG.replace("retry_after: 7}", "retry_after: 7, header_timeout: 300ms}")
    async with serve(write_config(tmp_path, text), tmp_path / "crossdock.db") as intake:
        order = b'{"order": {"id": 1, "lines": [{"sku": "A"}]}}'
        request = (
            b"POST /hooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(order), order)
        )
        ids = set()
        reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
        try:
            for _ in range(2):
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert head.startswith(b"HTTP/1.1 202 "), head
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                ids |= set(
                    orjson.loads(await asyncio.wait_for(reader.readexactly(length), 5))["ids"]
                )
                await asyncio.sleep(1.0)  # idle on the kept-alive connection
        finally:
            writer.close()
        assert {m.id for m in await intake.stored()} == ids


# -- rate limit -----------------------------------------------------------------------

LIMITED = (
    CONFIG.replace(
        "  lonely: {connector: webhook}\n",
        "  lonely: {connector: webhook}\n"
        "  limited:\n    connector: webhook\n    settings: {rate_limit: 2, burst: 2}\n",
    )
    + "  limited-in: {source: limited, targets: [{endpoint: erp}]}\n"
)


async def test_an_endpoint_over_its_rate_limit_is_answered_429(tmp_path: Path) -> None:
    async with serve(write_config(tmp_path, LIMITED), tmp_path / "crossdock.db") as intake:
        first = [await intake.post_json("limited", b'{"n": 1}') for _ in range(2)]
        assert [r.status for r in first] == [202, 202]
        over = await intake.post_json("limited", b'{"n": 2}')
        assert over.status == 429, over.json
        assert over.json["error"] == "rate_limited"
        assert over.headers["Retry-After"] == "1"
        order = orjson.dumps({"order": {"id": 9, "lines": [{"sku": "A"}]}})
        other = await intake.post_json("shop", order)  # another endpoint: its own limit
        assert other.status == 202, other.json
        assert len(await intake.stored()) == 2 + 2  # shop feeds two flows
        await asyncio.sleep(0.6)  # a token comes back every half second
        again = await intake.post_json("limited", b'{"n": 3}')
        assert again.status == 202, again.json
        refused = intake.metrics.render().decode()
        assert 'crossdock_refused_total{endpoint="limited",status="429"} 1.0' in refused


def test_workers_share_an_endpoint_rate_limit(tmp_path: Path) -> None:
    config = write_config(tmp_path, LIMITED)
    alone, shared = plan_hooks(config)["limited"], plan_hooks(config, workers=2)["limited"]
    assert alone.bucket is not None and shared.bucket is not None
    assert [alone.bucket.take() == 0 for _ in range(3)] == [True, True, False]
    assert [shared.bucket.take() == 0 for _ in range(2)] == [True, False]
    assert shared.bucket.rate == 1.0
