"""Failed polls store nothing and keep the cursor; each kind of failure has its reaction."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import structlog
from conftest import MakePoller
from poll_kit import CURSOR, ENV, TOKEN, eventually, stored_messages, versions
from service_desk import Desk, Fault, ticket_id, ts

from crossdock.bus import SqliteBackend
from crossdock.connectors.poll import MalformedAnswer, PollRejected
from crossdock.core.errors import AuthError, TransientError
from crossdock.core.retry import RetryPolicy

CURSOR_AT = {"param": "updated_since", "field": "updated_at"}
TOKEN_PAGES = {"type": "cursor_token", "token": "meta.next"}
BEARER = {"type": "bearer", "token": "${env:DESK_TOKEN}"}
QUICK_RETRY = RetryPolicy(initial_delay=0.05, max_delay=1.0, multiplier=2.0, jitter=0.0)


async def test_a_failing_page_mid_poll_stores_nothing_and_keeps_the_cursor(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    for n in range(3):
        desk.put(n, updated=100 + n)
    poller = make_poller(
        "/token/tickets", pagination=TOKEN_PAGES, records="items", record_key="id",
        cursor=CURSOR_AT,
    )  # fmt: skip
    await poller.poll_once()
    committed = await backend.get_cursor(CURSOR)
    for n in range(3, 10):
        desk.put(n, updated=100 + n)
    desk.faults[3] = Fault(500)  # the second page of the second poll

    with pytest.raises(TransientError, match="answered 500"):
        await poller.poll_once()

    assert len(desk.requests) == 3
    assert len(await stored_messages(backend)) == 6
    assert await backend.get_cursor(CURSOR) == committed
    assert await poller.poll_once() == 14
    wanted = [(ticket_id(n), ts(100 + n)) for n in range(10)]
    assert versions(await stored_messages(backend), "tickets") == wanted


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(503), TransientError),
        (Fault(429, headers={"Retry-After": "7"}), TransientError),
        (Fault(408), TransientError),
        (Fault(401), AuthError),
        (Fault(403), AuthError),
        (Fault(404), PollRejected),
        (Fault(400), PollRejected),
        (Fault(302, headers={"Location": "/elsewhere"}), PollRejected),
    ],
)
async def test_answers_are_classified(
    fault: Fault, error: type[Exception], desk: Desk, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.faults[1] = fault
    poller = make_poller(cursor=CURSOR_AT)
    with pytest.raises(error) as raised:
        await poller.poll_once()
    if fault.status == 429:
        assert isinstance(raised.value, TransientError)
        assert raised.value.retry_after == 7.0
    assert len(desk.requests) == 1


async def test_a_refused_connection_is_transient(make_poller: MakePoller) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    poller = make_poller(url=f"http://127.0.0.1:{port}/tickets")
    with pytest.raises(TransientError, match=f"GET http://127.0.0.1:{port}/tickets failed"):
        await poller.poll_once()


async def test_a_slow_answer_times_out_as_transient(desk: Desk, make_poller: MakePoller) -> None:
    desk.delay = 2.0
    poller = make_poller(timeout="200ms")
    with pytest.raises(TransientError, match="timed out"):
        await poller.poll_once()


@pytest.mark.parametrize(
    ("path", "settings", "problem"),
    [
        ("/text", {}, "answer is not JSON"),
        ("/tickets", {"records": "data.items"}, "data.items is not a list of records"),
        ("/offset/tickets", {"pagination": {"type": "offset"}}, "the answer is not a list"),
    ],
)
async def test_a_malformed_answer_is_an_error_naming_the_url_not_the_credentials(
    path: str,
    settings: dict[str, Any],
    problem: str,
    desk: Desk,
    backend: SqliteBackend,
    make_poller: MakePoller,
) -> None:
    desk.put(1, updated=100)
    poller = make_poller(path, auth=BEARER, cursor=CURSOR_AT, **settings)
    with structlog.testing.capture_logs() as logs, pytest.raises(MalformedAnswer) as raised:
        await poller.poll_once()
    assert problem in str(raised.value)
    assert f"GET {desk.url}{path}" in str(raised.value)
    assert TOKEN not in str(raised.value) + repr(logs)
    assert await backend.get_cursor(CURSOR) is None
    assert await stored_messages(backend) == []


async def test_cursor_values_of_mixed_kinds_are_malformed(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.put(2, updated=100, updated_at=5)
    with pytest.raises(MalformedAnswer, match="both text and numbers"):
        await make_poller(cursor=CURSOR_AT).poll_once()
    assert await stored_messages(backend) == []


async def test_an_echoed_secret_is_masked_in_the_error(desk: Desk, make_poller: MakePoller) -> None:
    desk.faults[1] = Fault(400, f'{{"error": "bad token {TOKEN}"}}'.encode())
    with pytest.raises(PollRejected) as raised:
        await make_poller(auth=BEARER).poll_once()
    assert TOKEN not in str(raised.value)
    assert "bad token ***" in str(raised.value)


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (BEARER, "Authorization", f"Bearer {TOKEN}"),
        (
            {"type": "basic", "username": "hub", "password": "${env:DESK_PASSWORD}"},
            "Authorization",
            "Basic aHViOnBhNTUtd29yZA==",
        ),
        (
            {"type": "api_key", "header": "X-Api-Key", "value": "${env:DESK_KEY}"},
            "X-Api-Key",
            ENV["DESK_KEY"],
        ),
    ],
)
async def test_the_auth_header_is_sent_on_every_page(
    auth: dict[str, str], header: str, value: str, desk: Desk, make_poller: MakePoller
) -> None:
    for n in range(5):
        desk.put(n, updated=100 + n)
    poller = make_poller(
        "/link/tickets", pagination={"type": "link"}, auth=auth, headers={"X-Tenant": "acme"}
    )
    await poller.poll_once()
    assert len(desk.requests) == 2
    for seen in desk.requests:
        assert seen.headers[header] == value
        assert seen.headers["X-Tenant"] == "acme"
        assert seen.headers["Accept"] == "application/json"


async def test_an_oauth_token_is_fetched_and_renewed_after_a_401(
    desk: Desk, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.faults[1] = Fault(401)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{desk.url}/oauth/token",
        "client_id": "hub",
        "client_secret": "${env:DESK_KEY}",
    }
    poller = make_poller(auth=auth, flows="tickets")
    assert await poller.poll_once() == 1
    assert desk.grants == ["tok-1", "tok-2"]
    assert [r.headers["Authorization"] for r in desk.requests] == ["Bearer tok-1", "Bearer tok-2"]


# -- what run() does after a failure ------------------------------------------------------


async def _running(poller: Any) -> asyncio.Task[None]:
    return asyncio.create_task(poller.run())


async def _stop(poller: Any, task: asyncio.Task[None]) -> None:
    poller.stop()
    await asyncio.wait_for(task, 5)


async def test_run_honours_retry_after_then_resumes_the_schedule(
    desk: Desk, make_poller: MakePoller
) -> None:
    desk.faults[1] = Fault(429, headers={"Retry-After": "1"})
    poller = make_poller(interval="50ms", options={"retry": QUICK_RETRY})
    task = await _running(poller)
    await eventually(lambda: len(desk.requests) >= 4, what="polls after the 429")
    await _stop(poller, task)
    gaps = [b.at - a.at for a, b in zip(desk.requests, desk.requests[1:], strict=False)]
    assert gaps[0] >= 0.95  # not before Retry-After
    assert max(gaps[1:3]) < 0.5  # then every 50ms again


async def test_run_backs_off_more_after_each_transient_failure(
    desk: Desk, make_poller: MakePoller
) -> None:
    for n in range(1, 5):
        desk.faults[n] = Fault(500)
    poller = make_poller(interval="10ms", options={"retry": QUICK_RETRY})
    task = await _running(poller)
    await eventually(lambda: len(desk.requests) >= 6, what="retries and recovery")
    await _stop(poller, task)
    gaps = [b.at - a.at for a, b in zip(desk.requests, desk.requests[1:], strict=False)]
    for gap, nominal in zip(gaps[:4], (0.05, 0.1, 0.2, 0.4), strict=True):
        assert nominal * 0.9 <= gap < nominal + 0.15
    assert gaps[4] < 0.05 + 0.1  # success: back to the interval


async def test_run_alerts_and_pauses_long_on_refused_credentials(
    desk: Desk, make_poller: MakePoller
) -> None:
    desk.faults[1] = Fault(401)
    poller = make_poller(interval="10ms", auth=BEARER, options={"auth_pause": 60.0})
    with structlog.testing.capture_logs() as logs:
        task = await _running(poller)
        await eventually(lambda: any(e.get("alert") for e in logs), what="the alert")
        await asyncio.sleep(0.3)  # would be ~30 polls at the normal schedule
        await _stop(poller, task)
    assert len(desk.requests) == 1
    assert TOKEN not in repr(logs)


async def test_run_keeps_the_schedule_after_a_refusal(desk: Desk, make_poller: MakePoller) -> None:
    for n in range(1, 100):
        desk.faults[n] = Fault(404)
    poller = make_poller(interval="20ms", options={"retry": RetryPolicy(initial_delay=10.0)})
    with structlog.testing.capture_logs() as logs:
        task = await _running(poller)
        await eventually(lambda: len(desk.requests) >= 4, what="polls at the schedule")
        await _stop(poller, task)
    errors = [e for e in logs if e["event"] == "poll failed"]
    assert errors[0]["error_class"] == "PollRejected"
    assert errors[0]["log_level"] == "error"


async def test_run_survives_a_bug_in_a_poll(desk: Desk, make_poller: MakePoller) -> None:
    poller = make_poller(interval="10ms", options={"retry": QUICK_RETRY})
    real = poller.poll_once
    calls = 0

    async def buggy() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return await real()

    poller.poll_once = buggy  # type: ignore[method-assign]
    with structlog.testing.capture_logs() as logs:
        task = await _running(poller)
        await eventually(lambda: len(desk.requests) >= 2, what="polls after the bug")
        await _stop(poller, task)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["poll crashed"]


async def test_stop_abandons_a_poll_in_progress(
    desk: Desk, backend: SqliteBackend, make_poller: MakePoller
) -> None:
    desk.put(1, updated=100)
    desk.delay = 10.0
    poller = make_poller(interval="1h")
    task = await _running(poller)
    await eventually(lambda: len(desk.requests) == 1, what="the first request")
    await _stop(poller, task)  # within 5s, not after the 10s answer
    assert await stored_messages(backend) == []
