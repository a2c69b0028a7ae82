"""What the http sink sends: URL from the template, JSON body, headers, idempotency key."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from http_target import MakeSink, Reply, Target, delivery

from crossdock.config.connectors import HttpSettings
from crossdock.connectors.http import USER_AGENT, HttpSink, UrlTemplate
from crossdock.core.envelope import Message
from crossdock.core.errors import PermanentError

ORDER = {"order": {"id": 42, "lines": [{"sku": "A-1"}]}, "note": "ünïcode"}

HOSTILE = [
    "../",
    "../../admin",
    "...",
    "%2E%2E",
    "/",
    "a/b",
    "?x=1",
    "#frag",
    "%2F",
    "%2e%2e",
    "@evil.com",
    "evil.com:80",
    "//evil.com/x",
    "http://evil.com/",
    "a b&c=d+e",
    "ünï/cødé ✓",
    "\r\nHost: evil.com",
]


async def test_the_body_is_the_payload_as_json(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(path="/orders")
    receipt = await sink.deliver(delivery(ORDER))
    [seen] = target.requests
    assert (seen.method, seen.raw_path, receipt.status) == ("POST", "/orders", 200)
    assert seen.json() == ORDER
    assert seen.headers["Content-Type"] == "application/json"


async def test_method_and_configured_headers(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(method="PATCH", headers={"X-Tenant": "acme", "Accept": "text/json"})
    await sink.deliver(delivery(ORDER))
    [seen] = target.requests
    assert seen.method == "PATCH"
    assert (seen.headers["X-Tenant"], seen.headers["Accept"]) == ("acme", "text/json")


async def test_crossdock_headers(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink()
    sent = delivery(ORDER, attempt=3, destination="erp")
    await sink.deliver(sent)
    [seen] = target.requests
    message_id = sent.message.id
    assert seen.headers["Idempotency-Key"] == f"{message_id}:erp"
    assert seen.headers["X-Crossdock-Message-Id"] == message_id
    assert seen.headers["X-Crossdock-Attempt"] == "3"
    assert seen.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("crossdock/")


async def test_the_correlation_id_is_sent_in_the_configured_header(
    target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink(correlation_header="X-Correlation-ID")
    correlated = Message.new(
        flow="orders",
        source="shop",
        event_type="order.created",
        body=ORDER,
        correlation_id="INC-42",
    )
    await sink.deliver(delivery(ORDER, message=correlated))
    alone = delivery(ORDER)  # came without one: its own id
    await sink.deliver(alone)
    sent = [seen.headers.getall("X-Correlation-ID") for seen in target.requests]
    assert sent == [["INC-42"], [alone.message.id]]
    plain = await make_sink()
    await plain.deliver(delivery(ORDER, message=correlated))
    assert "X-Correlation-ID" not in target.requests[-1].headers


async def test_configured_content_type_and_user_agent_win(
    target: Target, make_sink: MakeSink
) -> None:
    headers = {"content-type": "application/vnd.api+json", "User-Agent": "acme-hub/2"}
    sink = await make_sink(headers=headers)
    await sink.deliver(delivery(ORDER))
    [seen] = target.requests
    assert seen.headers.getall("Content-Type") == ["application/vnd.api+json"]
    assert seen.headers.getall("User-Agent") == ["acme-hub/2"]


async def test_a_redelivery_has_the_same_idempotency_key(
    target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink()
    first = delivery(ORDER, attempt=1)
    await sink.deliver(first)
    await sink.deliver(delivery(ORDER, attempt=2, message=first.message))
    await sink.deliver(delivery(ORDER, attempt=1, message=first.message, destination="crm"))
    keys = [seen.headers["Idempotency-Key"] for seen in target.requests]
    attempts = [seen.headers["X-Crossdock-Attempt"] for seen in target.requests]
    assert keys[0] == keys[1] != keys[2]
    assert keys[2] == f"{first.message.id}:crm"
    assert attempts == ["1", "2", "1"]


async def test_placeholders_from_the_message(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(
        base_url=f"{target.url}/api/v2/",
        path="/{flow}/{body.order.id}/lines/{body.order.lines.0.sku}?type={event_type}&k={key}",
    )
    sent = delivery(ORDER, key="order-42")
    await sink.deliver(sent)
    [seen] = target.requests
    assert seen.raw_path == "/api/v2/orders/42/lines/A-1?type=order.created&k=order-42"
    await sink.deliver(delivery({"order": {"id": True, "lines": [{"sku": 1.5}]}}))
    assert target.requests[1].raw_path.startswith("/api/v2/orders/true/lines/1.5?")


async def test_the_message_id_placeholder(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(path="/messages/{id}")
    sent = delivery(ORDER)
    await sink.deliver(sent)
    assert target.requests[0].raw_path == f"/messages/{sent.message.id}"


@pytest.mark.parametrize("value", HOSTILE)
async def test_a_hostile_value_stays_one_path_segment_on_the_host(
    value: str, target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink(path="/tickets/{key}/notes/{body.ref}")
    await sink.deliver(delivery({"ref": value}, key=value))
    [seen] = target.requests
    assert seen.host == target.authority
    assert "?" not in seen.raw_path
    assert "#" not in seen.raw_path
    segments = seen.raw_path.split("/")
    assert len(segments) == 5
    assert segments[:2] == ["", "tickets"]
    assert segments[3] == "notes"
    assert unquote(segments[2]) == value
    assert unquote(segments[4]) == value


@pytest.mark.parametrize("value", [".", ".."])
async def test_a_path_step_is_refused(value: str, target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(path="/tickets/{key}/notes")
    with pytest.raises(PermanentError, match=r"\{key\} is '\.+': a path step"):
        await sink.deliver(delivery(ORDER, key=value))
    assert target.requests == []


def test_a_path_step_in_the_template_itself_is_refused_too() -> None:
    # settings refuse such a template; the URL builder checks again (defence in depth)
    template = UrlTemplate("http://127.0.0.1:1/api", "/x/%2e./{key}")
    with pytest.raises(PermanentError, match=r"'\.\.' segment"):
        template.render(delivery(ORDER))


@pytest.mark.parametrize("value", [*HOSTILE, ".", ".."])
async def test_a_hostile_value_stays_one_query_value(
    value: str, target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink(path="/search?q={key}&limit=1")
    await sink.deliver(delivery(ORDER, key=value))
    [seen] = target.requests
    assert seen.host == target.authority
    path, _, query = seen.raw_path.partition("?")
    assert path == "/search"
    pairs = query.split("&")
    assert len(pairs) == 2
    assert pairs[1] == "limit=1"
    name, _, encoded = pairs[0].partition("=")
    assert name == "q"
    assert "=" not in encoded
    assert "#" not in encoded
    assert unquote(encoded) == value


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, "{body.order.id} has no value"),
        ({"order": {}}, "{body.order.id} has no value"),
        ({"order": {"id": None}}, "{body.order.id} has no value"),
        ({"order": {"id": ""}}, "{body.order.id} has no value"),
        ({"order": {"id": {"n": 1}}}, "{body.order.id} is an object, not one value"),
        ({"order": {"id": [1]}}, "{body.order.id} is a list, not one value"),
        ({"order": "x"}, "{body.order.id} has no value"),
    ],
)
async def test_a_placeholder_without_a_value_is_permanent(
    payload: object, expected: str, target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink(path="/orders/{body.order.id}")
    with pytest.raises(PermanentError, match=expected.replace("{", r"\{").replace("}", r"\}")):
        await sink.deliver(delivery(payload))
    assert target.requests == []


async def test_a_payload_that_is_not_json_is_permanent(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink()
    with pytest.raises(PermanentError, match="cannot be sent as JSON"):
        await sink.deliver(delivery({1: {2, 3}}))
    assert target.requests == []


async def test_deliver_before_open_is_a_bug(target: Target) -> None:
    sink = HttpSink("erp", HttpSettings(base_url=target.url))
    with pytest.raises(RuntimeError, match="open"):
        await sink.deliver(delivery(ORDER))
    async with sink:
        assert (await sink.deliver(delivery(ORDER))).status == 200


async def test_cookies_are_not_carried_between_deliveries(
    target: Target, make_sink: MakeSink
) -> None:
    # by name, not by IP: a cookie jar would keep a cookie set by "localhost"
    target.then(Reply(200, headers={"Set-Cookie": "session=abc; Path=/"}))
    sink = await make_sink(base_url=f"http://localhost:{target.port}")
    await sink.deliver(delivery(ORDER))
    await sink.deliver(delivery(ORDER))
    assert "Cookie" not in target.requests[1].headers
