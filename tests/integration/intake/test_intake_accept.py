"""Accepted webhooks: 202 only once every flow's message is in the store, as sent."""

from __future__ import annotations

import asyncio
import re
from typing import NoReturn

import orjson
import pytest
import structlog
from intake_kit import Intake, wait_for

from crossdock.bus import INTAKE, MessageQuery
from crossdock.intake import parsing

ORDER = {"order": {"id": 42, "lines": [{"sku": "A-1"}, {"sku": "B-2"}]}}


async def test_one_message_per_flow_with_its_key_and_the_body(intake: Intake) -> None:
    reply = await intake.post_json("shop", orjson.dumps(ORDER), **{"User-Agent": "shop/1.0"})
    assert reply.status == 202
    assert reply.json["duplicate"] is False
    assert len(reply.json["ids"]) == 2
    stored = {s.id: s for s in await intake.stored()}
    assert set(stored) == set(reply.json["ids"])
    by_flow = {s.flow: s for s in stored.values()}
    assert (by_flow["orders"].key, by_flow["lines"].key) == ("42", "A-1")
    for summary in stored.values():
        message = await intake.message(summary.id)
        assert (message.source, message.event_type) == ("shop", "message.received")
        assert message.body == ORDER
    stats = {(s.flow, s.destination): s.depth for s in await intake.backend.stats()}
    assert stats == {("orders", INTAKE): 1, ("lines", INTAKE): 1}


async def test_only_allow_listed_headers_are_kept(intake: Intake) -> None:
    reply = await intake.post_json(
        "shop",
        orjson.dumps(ORDER),
        **{
            "User-Agent": "shop/1.0",
            "Idempotency-Key": "d-1",
            "Authorization": "Bearer sesame",
            "Cookie": "session=abc",
            "X-Signature": "deadbeef",
            "X-Other": "1",
        },
    )
    assert reply.status == 202
    message = await intake.message(reply.json["ids"][0])
    assert dict(message.headers) == {
        "content-type": "application/json",
        "user-agent": "shop/1.0",
        "idempotency-key": "d-1",
    }


async def test_the_correlation_header_gives_every_message_its_correlation_id(
    intake: Intake,
) -> None:
    reply = await intake.post_json("shop", orjson.dumps(ORDER), **{"X-Correlation-ID": "INC-42"})
    assert reply.status == 202, reply.json
    found = await intake.backend.find_messages(MessageQuery(correlation_id="INC-42"))
    assert {s.id for s in found} == set(reply.json["ids"])  # one per flow
    plain = await intake.post_json("shop", orjson.dumps(ORDER))
    assert (await intake.message(plain.json["ids"][0])).correlation_id is None
    empty = await intake.post_json("shop", orjson.dumps(ORDER), **{"X-Correlation-ID": ""})
    assert empty.status == 202, empty.json  # sent empty: as if absent
    assert (await intake.message(empty.json["ids"][0])).correlation_id is None


@pytest.mark.parametrize("value", ["has space", "x" * 201, "caf\u00e9", "tab\tin"])
async def test_an_invalid_correlation_id_is_refused(intake: Intake, value: str) -> None:
    headers = {"X-Correlation-ID": value.encode().decode("unicode_escape")}
    reply = await intake.post_json("shop", orjson.dumps(ORDER), **headers)
    assert reply.status == 400, reply.json
    assert reply.json["error"] == "bad_request"
    assert "x-correlation-id" in reply.json["detail"]
    assert await intake.stored() == []


async def test_a_form_has_no_nesting_so_a_dotted_key_is_missing(intake: Intake) -> None:
    body = "order.id=9&tag=a&tag=b&note=caf%C3%A9&empty="
    reply = await intake.post(
        "shop", body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    # A form has no nesting: "order.id" is one field, so the key path order.id is missing.
    assert (reply.status, reply.json["error"]) == (422, "missing_key")
    assert "order.id" in reply.json["detail"]
    assert await intake.stored() == []


async def test_form_fields_reach_the_store(intake: Intake) -> None:
    body = "ticket=T-1&tag=x&tag=y&tag=z&e=&sp=a+b%21&name=caf%C3%A9"
    reply = await intake.post("desk", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 202, reply.json
    [summary] = await intake.stored()
    assert (summary.flow, summary.key) == ("tickets", "T-1")
    message = await intake.message(summary.id)
    assert message.body == {
        "ticket": "T-1",
        "tag": ["x", "y", "z"],
        "e": "",
        "sp": "a b!",
        "name": "café",
    }


async def test_xml_becomes_a_dict_by_the_documented_convention(intake: Intake) -> None:
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<order xmlns="urn:shop" id="42"><id>42</id>'
        b"<lines><sku>A-1</sku></lines><lines><sku>B-2</sku></lines>"
        b"<note>  caf\xc3\xa9 </note><empty/></order>"
    )
    reply = await intake.post("shop", xml, {"Content-Type": "application/xml"})
    assert reply.status == 202, reply.json
    by_flow = {s.flow: s for s in await intake.stored()}
    assert (by_flow["orders"].key, by_flow["lines"].key) == ("42", "A-1")
    message = await intake.message(by_flow["orders"].id)
    assert message.body == {
        "order": {
            "@id": "42",
            "id": "42",
            "lines": [{"sku": "A-1"}, {"sku": "B-2"}],
            "note": "café",
            "empty": None,
        }
    }


async def test_a_repeated_delivery_returns_the_first_ids_and_stores_nothing(
    intake: Intake,
) -> None:
    first = await intake.post_json("shop", orjson.dumps(ORDER), **{"Idempotency-Key": "abc"})
    changed = {"order": {"id": 43, "lines": [{"sku": "C"}]}}
    again = await intake.post_json("shop", orjson.dumps(changed), **{"Idempotency-Key": "abc"})
    other = await intake.post_json("shop", orjson.dumps(ORDER), **{"Idempotency-Key": "abd"})
    assert (first.status, again.status, other.status) == (202, 202, 202)
    assert again.json == {"ids": first.json["ids"], "duplicate": True}
    assert other.json["duplicate"] is False
    stored = await intake.stored()
    assert sorted(s.id for s in stored) == sorted(first.json["ids"] + other.json["ids"])
    assert {s.key for s in stored} == {"42", "A-1"}  # the repeat's body was not stored


async def test_concurrent_repeats_store_once(intake: Intake) -> None:
    replies = await asyncio.gather(
        *(
            intake.post_json("shop", orjson.dumps(ORDER), **{"Idempotency-Key": "same"})
            for _ in range(20)
        )
    )
    assert {r.status for r in replies} == {202}
    assert len({tuple(r.json["ids"]) for r in replies}) == 1
    assert sum(not r.json["duplicate"] for r in replies) == 1
    assert len(await intake.stored()) == 2


async def test_unknown_endpoint_non_webhook_and_endpoint_without_flow(intake: Intake) -> None:
    for endpoint in ("nope", "erp", "lonely", "shop/extra"):
        reply = await intake.post_json(endpoint, orjson.dumps(ORDER))
        assert (reply.status, reply.json["error"]) == (404, "not_found"), endpoint
    reply = await intake.post_json("lonely", orjson.dumps(ORDER))
    assert reply.json["detail"] == "endpoint has no flow"
    assert await intake.stored() == []


async def test_other_methods_and_paths(intake: Intake) -> None:
    reply = await intake.request("GET", "/hooks/shop")
    assert (reply.status, reply.headers["Allow"]) == (405, "POST")
    reply = await intake.request("POST", "/healthz")
    assert (reply.status, reply.headers["Allow"]) == (405, "GET, HEAD")
    assert (await intake.request("GET", "/")).status == 404
    assert (await intake.request("GET", "/hooks")).status == 404


async def test_health_readiness_and_draining(intake: Intake) -> None:
    assert (await intake.request("GET", "/healthz")).status == 200

    async def ready() -> bool:
        return (await intake.request("GET", "/readyz")).status == 200

    await wait_for(ready, what="readiness")
    intake.app.drain()
    reply = await intake.request("GET", "/readyz")
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "7"
    refused = await intake.post_json("shop", orjson.dumps(ORDER))
    assert (refused.status, refused.json["error"]) == (503, "draining")
    assert refused.headers["Retry-After"] == "7"
    assert (await intake.request("GET", "/healthz")).status == 200
    assert await intake.stored() == []


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` in a Prometheus text exposition."""
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found.group(1) != name:
            continue
        pairs = dict(re.findall(r'([a-z_]+)="([^"]*)"', found.group(2) or ""))
        if pairs == labels:
            return float(found.group(3))
    return None


async def test_metrics_count_accepted_and_refused_and_show_queues(intake: Intake) -> None:
    await intake.post_json("shop", orjson.dumps(ORDER))
    await intake.post_json("shop", orjson.dumps(ORDER))
    await intake.post_json("shop", b"{")
    await intake.post_json("nope", b"{}")

    async def gauges_refreshed() -> bool:
        text = (await intake.request("GET", "/metrics")).json.decode()
        depth = _sample(text, "crossdock_queue_depth", flow="orders", destination=INTAKE)
        return depth == 2.0

    await wait_for(gauges_refreshed, what="the queue gauges")
    reply = await intake.request("GET", "/metrics")
    assert reply.headers["Content-Type"].startswith("text/plain")
    text = reply.json.decode()
    assert _sample(text, "crossdock_received_total", endpoint="shop") == 2.0
    assert _sample(text, "crossdock_refused_total", endpoint="shop", status="400") == 1.0
    assert _sample(text, "crossdock_refused_total", endpoint="", status="404") == 1.0
    assert _sample(text, "crossdock_intake_seconds_count") == 2.0
    for name in ("crossdock_delivered_total", "crossdock_end_to_end_seconds"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


async def test_a_bug_answers_500_generically_and_logs_no_data(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> NoReturn:
        raise RuntimeError("card 4111-1111-1111-1111 in the body")

    monkeypatch.setattr(parsing, "parse_body", broken)
    with structlog.testing.capture_logs() as logs:
        reply = await intake.post_json("shop", orjson.dumps(ORDER))
    assert reply.status == 500
    assert reply.json == {"error": "internal_error", "detail": "unexpected error"}
    [entry] = [e for e in logs if e["log_level"] == "error"]
    assert entry["error_class"] == "RuntimeError"
    assert any("hooks.py" in frame for frame in entry["frames"])
    assert "4111" not in repr(entry)
    assert await intake.stored() == []
