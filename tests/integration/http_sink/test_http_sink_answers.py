"""How the http sink reads answers: status families, Retry-After, response ids, redirects,
and secrets never shown in an error."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

import orjson
import pytest
from http_target import MakeSink, Reply, Seen, Target, delivery
from pydantic import SecretStr

from crossdock.config.connectors import ApiKeyAuth, BasicAuth, BearerAuth
from crossdock.connectors.http import MAX_RETRY_AFTER, HttpRejected
from crossdock.core.errors import AuthError, PermanentError, TransientError

ORDER = {"order": {"id": 42}}


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_is_delivered(status: int, target: Target, make_sink: MakeSink) -> None:
    target.reply(Reply(status))
    receipt = await (await make_sink()).deliver(delivery(ORDER))
    assert (receipt.status, receipt.target_id, dict(receipt.detail)) == (status, None, {})


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
async def test_retryable_statuses_are_transient(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply(status, b"try later"))
    with pytest.raises(TransientError, match=f"answered {status}.*: try later") as caught:
        await (await make_sink()).deliver(delivery(ORDER))
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_are_auth_errors(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply(status, b"who are you"))
    with pytest.raises(AuthError, match=f"answered {status}"):
        await (await make_sink()).deliver(delivery(ORDER))
    assert len(target.requests) == 1  # static credentials: no second try


@pytest.mark.parametrize("status", [400, 404, 405, 409, 410, 413, 422, 451])
async def test_other_4xx_are_permanent_with_status_and_body(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply.json(status, {"error": "order 42 is invalid"}))
    with pytest.raises(HttpRejected) as caught:
        await (await make_sink(path="/orders/{body.order.id}")).deliver(delivery(ORDER))
    error = caught.value
    assert isinstance(error, PermanentError)
    assert error.status == status
    assert error.body == '{"error":"order 42 is invalid"}'
    assert f"POST {target.url}/orders/42 answered {status}" in str(error)
    assert error.body in str(error)


async def test_the_error_body_is_cut_to_max_error_body(target: Target, make_sink: MakeSink) -> None:
    target.reply(Reply(400, ("é" * 100).encode()))
    with pytest.raises(HttpRejected) as caught:
        await (await make_sink(max_error_body=15)).deliver(delivery(ORDER))
    assert caught.value.body == "é" * 7  # 14 bytes: a character is never cut in two
    assert str(caught.value).endswith("é" * 7 + " [truncated]")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("999999", MAX_RETRY_AFTER),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        (formatdate(0, usegmt=True), 0.0),  # in the past
    ],
)
async def test_retry_after(
    header: str, expected: float | None, target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply(429, headers={"Retry-After": header}))
    with pytest.raises(TransientError) as caught:
        await (await make_sink()).deliver(delivery(ORDER))
    assert caught.value.retry_after == expected


async def test_retry_after_as_an_http_date(target: Target, make_sink: MakeSink) -> None:
    target.reply(Reply(503, headers={"Retry-After": formatdate(time.time() + 90, usegmt=True)}))
    with pytest.raises(TransientError) as caught:
        await (await make_sink()).deliver(delivery(ORDER))
    assert caught.value.retry_after is not None
    assert 85 <= caught.value.retry_after <= 91


async def test_a_far_http_date_is_capped(target: Target, make_sink: MakeSink) -> None:
    target.reply(Reply(503, headers={"Retry-After": formatdate(time.time() + 86400, usegmt=True)}))
    with pytest.raises(TransientError) as caught:
        await (await make_sink()).deliver(delivery(ORDER))
    assert caught.value.retry_after == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("answer", "target_id"),
    [({"data": {"id": 7781}}, "7781"), ({"data": {"id": "INC-1"}}, "INC-1")],
)
async def test_the_target_id_from_response_id(
    answer: object, target_id: str, target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply.json(201, answer))
    receipt = await (await make_sink(response_id="data.id")).deliver(delivery(ORDER))
    assert (receipt.target_id, receipt.status, dict(receipt.detail)) == (target_id, 201, {})


async def test_the_target_id_in_a_list(target: Target, make_sink: MakeSink) -> None:
    target.reply(Reply.json(200, {"records": [{"sys_id": "abc"}]}))
    receipt = await (await make_sink(response_id="records.0.sys_id")).deliver(delivery(ORDER))
    assert receipt.target_id == "abc"


@pytest.mark.parametrize(
    ("reply", "note"),
    [
        (Reply(204), "not found: answer is empty"),
        (Reply(200, b"<ok/>"), "not found: answer is not JSON"),
        (Reply.json(200, {"data": {}}), "not found: answer has no data.id"),
        (Reply.json(200, {"data": {"id": None}}), "not found: answer has no data.id"),
        (Reply.json(200, {"data": {"id": {"x": 1}}}), "not found: data.id in the answer is not"),
    ],
)
async def test_a_missing_target_id_is_still_delivered(
    reply: Reply, note: str, target: Target, make_sink: MakeSink
) -> None:
    target.reply(reply)
    receipt = await (await make_sink(response_id="data.id")).deliver(delivery(ORDER))
    assert (receipt.target_id, receipt.status) == (None, reply.status)
    assert str(receipt.detail["response_id"]).startswith(note)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_host_is_not_followed(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    elsewhere = Target()
    await elsewhere.start()
    try:
        target.reply(Reply(status, headers={"Location": f"{elsewhere.url}/stolen"}))
        with pytest.raises(HttpRejected, match="not followed") as caught:
            await (await make_sink()).deliver(delivery(ORDER))
        assert caught.value.status == status
        assert f"{elsewhere.url}/stolen" in str(caught.value)
        assert elsewhere.requests == []
        assert len(target.requests) == 1
    finally:
        await elsewhere.stop()


# -- secrets ------------------------------------------------------------------------------


def echo_credentials(replies: list[bytes]) -> Callable[[Seen], Reply]:
    """A careless target: it puts the request's headers in its error answer."""

    def answer(seen: Seen) -> Reply:
        echoed = {str(name): value for name, value in seen.headers.items()}
        reply = Reply.json(400, {"error": "bad request", "you_sent": echoed})
        replies.append(reply.body)
        return reply

    return answer


TOKEN = 'sk_live_"quoted"/+=tok'
AUTHS = {
    "bearer": BearerAuth(type="bearer", token=SecretStr(TOKEN)),
    "basic": BasicAuth(type="basic", username="hub", password=SecretStr(TOKEN)),
    "api_key": ApiKeyAuth(type="api_key", header="X-Api-Key", value=SecretStr(TOKEN)),
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
async def test_an_echoed_secret_is_masked(kind: str, target: Target, make_sink: MakeSink) -> None:
    replies: list[bytes] = []
    target.reply(echo_credentials(replies))
    with pytest.raises(HttpRejected) as caught:
        await (await make_sink(auth=AUTHS[kind])).deliver(delivery(ORDER))
    [seen] = target.requests
    sent = seen.headers.get("Authorization") or seen.headers["X-Api-Key"]
    credential = sent.split(" ")[-1]  # the token, key, or base64 of user:password
    assert orjson.dumps(credential)[1:-1] in replies[0]  # it was echoed, JSON-escaped
    for text in (str(caught.value), caught.value.body, repr(caught.value.args)):
        assert credential not in text
        assert TOKEN not in text
        assert orjson.dumps(TOKEN).decode()[1:-1] not in text
        assert "***" in text


async def test_a_secret_across_the_cut_is_masked_not_half_shown(
    target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply(400, b"x" * 10 + TOKEN.encode() + b"y" * 50))
    with pytest.raises(HttpRejected) as caught:
        await (await make_sink(auth=AUTHS["bearer"], max_error_body=15)).deliver(delivery(ORDER))
    assert caught.value.body == "x" * 10 + "***yy"  # masked first, then cut to 15 bytes
    assert "sk_" not in str(caught.value)
