"""Credentials: static kinds arrive as headers; OAuth 2 tokens are fetched once, cached,
renewed before they expire, and renewed once after a 401."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from http_target import TOKEN_PATH, FakeClock, MakeSink, Reply, Seen, Target, delivery, wait_for
from pydantic import SecretStr

from crossdock.config.connectors import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)
from crossdock.connectors.http import HttpSink
from crossdock.connectors.http.auth import OAuth2Token
from crossdock.core.errors import AuthError, PermanentError, TransientError

ORDER = {"order": {"id": 42}}
CLIENT_SECRET = "cl!ent secret/+="


def oauth(target: Target, **extra: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        type="oauth2_client_credentials",
        token_url=f"{target.url}{TOKEN_PATH}",
        client_id="crossdock",
        client_secret=SecretStr(CLIENT_SECRET),
        **extra,
    )


def token_requests(sink: HttpSink) -> int:
    auth = sink.client.auth
    assert isinstance(auth, OAuth2Token)
    return auth.requests


def bearer_of(seen: Seen) -> str:
    scheme, _, token = seen.headers.get("Authorization", "").partition(" ")
    assert scheme == "Bearer"
    return token


# -- static credentials -------------------------------------------------------------------


async def test_no_auth_sends_no_credentials(target: Target, make_sink: MakeSink) -> None:
    await (await make_sink()).deliver(delivery(ORDER))
    assert "Authorization" not in target.requests[0].headers


async def test_basic(target: Target, make_sink: MakeSink) -> None:
    auth = BasicAuth(type="basic", username="hub", password=SecretStr("pä:ss"))
    await (await make_sink(auth=auth)).deliver(delivery(ORDER))
    scheme, _, encoded = target.requests[0].headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", "hub:pä:ss")


async def test_bearer(target: Target, make_sink: MakeSink) -> None:
    auth = BearerAuth(type="bearer", token=SecretStr("t0ken"))
    await (await make_sink(auth=auth)).deliver(delivery(ORDER))
    assert target.requests[0].headers["Authorization"] == "Bearer t0ken"


@pytest.mark.parametrize("header", ["X-Api-Key", "Authorization"])
async def test_api_key(header: str, target: Target, make_sink: MakeSink) -> None:
    auth = ApiKeyAuth(type="api_key", header=header, value=SecretStr("Token k3y"))
    await (await make_sink(auth=auth)).deliver(delivery(ORDER))
    assert target.requests[0].headers.getall(header) == ["Token k3y"]


# -- OAuth 2 client credentials -----------------------------------------------------------


async def test_the_token_request(target: Target, make_sink: MakeSink) -> None:
    sink = await make_sink(auth=oauth(target, scope="orders.write tickets"))
    await sink.deliver(delivery(ORDER))
    [asked] = target.token_requests
    assert asked.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert asked.form() == {
        "grant_type": "client_credentials",
        "client_id": "crossdock",
        "client_secret": CLIENT_SECRET,
        "scope": "orders.write tickets",
    }
    assert bearer_of(target.requests[0]) == "tok-1"


async def test_the_token_request_with_basic_client_auth(
    target: Target, make_sink: MakeSink
) -> None:
    sink = await make_sink(auth=oauth(target, client_auth="basic"))
    await sink.deliver(delivery(ORDER))
    [asked] = target.token_requests
    assert asked.form() == {"grant_type": "client_credentials"}
    scheme, _, encoded = asked.headers["Authorization"].partition(" ")
    # RFC 6749 2.3.1: id and secret form-encoded, then Basic
    assert (scheme, base64.b64decode(encoded).decode()) == (
        "Basic",
        "crossdock:cl%21ent+secret%2F%2B%3D",
    )


async def test_32_concurrent_deliveries_cause_one_token_request(
    target: Target, make_sink: MakeSink
) -> None:
    target.token_gate = asyncio.Event()
    sink = await make_sink(auth=oauth(target), concurrency=32)
    deliveries = [asyncio.create_task(sink.deliver(delivery(ORDER))) for _ in range(32)]
    await wait_for(lambda: len(target.token_requests) == 1)
    target.token_gate.set()
    receipts = await asyncio.gather(*deliveries)
    assert [r.status for r in receipts] == [200] * 32
    assert len(target.token_requests) == 1
    assert {bearer_of(seen) for seen in target.requests} == {"tok-1"}
    await sink.deliver(delivery(ORDER))
    assert token_requests(sink) == 1


async def test_the_token_is_renewed_shortly_before_it_expires(
    target: Target, make_sink: MakeSink
) -> None:
    clock = FakeClock()
    target.expires_in = 600
    sink = await make_sink(auth=oauth(target), clock=clock)
    await sink.deliver(delivery(ORDER))
    clock.advance(569)  # renewed 30 s before the end (at most 10 % of its life)
    await sink.deliver(delivery(ORDER))
    assert token_requests(sink) == 1
    clock.advance(2)
    await sink.deliver(delivery(ORDER))
    assert [bearer_of(seen) for seen in target.requests] == ["tok-1", "tok-1", "tok-2"]
    assert len(target.token_requests) == 2


async def test_a_short_lived_token_is_renewed_a_tenth_early(
    target: Target, make_sink: MakeSink
) -> None:
    clock = FakeClock()
    target.expires_in = 10
    sink = await make_sink(auth=oauth(target), clock=clock)
    await sink.deliver(delivery(ORDER))
    clock.advance(8.9)
    await sink.deliver(delivery(ORDER))
    clock.advance(0.2)
    await sink.deliver(delivery(ORDER))
    assert [bearer_of(seen) for seen in target.requests] == ["tok-1", "tok-1", "tok-2"]


async def test_a_token_without_expiry_is_kept_until_a_401(
    target: Target, make_sink: MakeSink
) -> None:
    clock = FakeClock()
    target.expires_in = None
    target.require_token = True
    sink = await make_sink(auth=oauth(target), clock=clock)
    await sink.deliver(delivery(ORDER))
    clock.advance(10 * 86400)
    await sink.deliver(delivery(ORDER))
    target.revoked.add("tok-1")
    receipt = await sink.deliver(delivery(ORDER))
    assert receipt.detail == {"token_refreshed": True}
    assert [bearer_of(seen) for seen in target.requests] == ["tok-1"] * 3 + ["tok-2"]


async def test_a_401_renews_the_token_and_resends_once(target: Target, make_sink: MakeSink) -> None:
    target.require_token = True
    sink = await make_sink(auth=oauth(target))
    await sink.deliver(delivery(ORDER))
    target.revoked.add("tok-1")  # e.g. the target restarted and forgot its tokens
    sent = delivery(ORDER)
    receipt = await sink.deliver(sent)
    assert (receipt.status, receipt.detail) == (200, {"token_refreshed": True})
    assert [bearer_of(seen) for seen in target.requests] == ["tok-1", "tok-1", "tok-2"]
    assert target.requests[1].body == target.requests[2].body
    key = f"{sent.message.id}:erp"
    assert [s.headers["Idempotency-Key"] for s in target.requests[1:]] == [key, key]
    assert len(target.token_requests) == 2


async def test_a_401_with_a_fresh_token_too_is_an_auth_error(
    target: Target, make_sink: MakeSink
) -> None:
    target.reply(Reply(401, b"not you"))
    sink = await make_sink(auth=oauth(target))
    with pytest.raises(AuthError, match="answered 401"):
        await sink.deliver(delivery(ORDER))
    assert [bearer_of(seen) for seen in target.requests] == ["tok-1", "tok-2"]


async def test_concurrent_401s_renew_the_token_once(target: Target, make_sink: MakeSink) -> None:
    target.require_token = True
    sink = await make_sink(auth=oauth(target), concurrency=8)
    await sink.deliver(delivery(ORDER))
    target.revoked.add("tok-1")
    receipts = await asyncio.gather(*(sink.deliver(delivery(ORDER)) for _ in range(8)))
    assert {r.status for r in receipts} == {200}
    assert len(target.token_requests) == 2
    assert sorted(bearer_of(seen) for seen in target.requests[9:]) == ["tok-2"] * 8


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_token_endpoint_4xx_is_an_auth_error_without_the_secret(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    target.token_answer = lambda seen: Reply(status, b"invalid_client: " + seen.body)
    sink = await make_sink(auth=oauth(target))
    with pytest.raises(AuthError, match=f"token endpoint answered {status}") as caught:
        await sink.deliver(delivery(ORDER))
    assert "invalid_client" in str(caught.value)
    assert "cl%21ent" not in str(caught.value)
    assert "cl!ent" not in str(caught.value)
    assert target.requests == []


@pytest.mark.parametrize(
    "reply", [Reply(200, b"not json"), Reply.json(200, {"token_type": "Bearer"})]
)
async def test_a_token_answer_without_a_token_is_an_auth_error(
    reply: Reply, target: Target, make_sink: MakeSink
) -> None:
    target.token_answer = reply
    sink = await make_sink(auth=oauth(target))
    with pytest.raises(AuthError, match="gave no access_token"):
        await sink.deliver(delivery(ORDER))


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_token_endpoint_5xx_is_transient(
    status: int, target: Target, make_sink: MakeSink
) -> None:
    target.token_answer = Reply(status, headers={"Retry-After": "9"})
    sink = await make_sink(auth=oauth(target))
    with pytest.raises(TransientError, match=f"token endpoint answered {status}") as caught:
        await sink.deliver(delivery(ORDER))
    assert caught.value.retry_after == 9.0
    target.token_answer = None  # it recovers: the next delivery fetches a token
    assert (await sink.deliver(delivery(ORDER))).status == 200


async def test_a_failed_fetch_is_shared_by_the_tasks_that_waited_for_it(
    target: Target, make_sink: MakeSink
) -> None:
    target.token_gate = asyncio.Event()
    target.token_answer = Reply(503)
    sink = await make_sink(auth=oauth(target))
    waiting = [asyncio.create_task(sink.deliver(delivery(ORDER))) for _ in range(10)]
    await wait_for(lambda: len(target.token_requests) == 1)
    target.token_gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(outcome, TransientError) for outcome in outcomes)
    assert len(target.token_requests) == 1


async def test_an_echoed_access_token_is_masked(target: Target, make_sink: MakeSink) -> None:
    target.reply(lambda seen: Reply(422, f"bad: {seen.headers['Authorization']}".encode()))
    sink = await make_sink(auth=oauth(target))
    with pytest.raises(PermanentError) as caught:
        await sink.deliver(delivery(ORDER))
    assert str(caught.value).endswith("bad: Bearer ***")
