"""The http sink behind the fault proxy: every network failure is a TransientError."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from http_target import MakeSink, Reply, Target, delivery

from crossdock.connectors.http import HttpSink
from crossdock.connectors.http.wire import WireError
from crossdock.core.errors import TransientError
from faultproxy import FaultProxy, Mode

ORDER = {"order": {"id": 42}}


@pytest.fixture
async def proxy(target: Target) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", target.port) as running:
        yield running


@pytest.fixture
async def sink(proxy: FaultProxy, make_sink: MakeSink) -> HttpSink:
    return await make_sink(base_url=proxy.url, path="/orders/{body.order.id}", timeout="2s")


async def test_pass(proxy: FaultProxy, sink: HttpSink, target: Target) -> None:
    target.reply(Reply.json(201, {"id": "A-1"}))
    for _ in range(3):
        assert (await sink.deliver(delivery(ORDER))).status == 201
    assert [seen.raw_path for seen in target.requests] == ["/orders/42"] * 3
    assert (proxy.requests, proxy.forwarded) == (3, 3)


async def test_a_delay_within_the_timeout_is_fine(proxy: FaultProxy, sink: HttpSink) -> None:
    await proxy.set_mode(Mode.DELAY, delay_ms=100)
    assert (await sink.deliver(delivery(ORDER))).status == 200


async def test_a_delay_past_the_timeout_is_transient(
    proxy: FaultProxy, make_sink: MakeSink, target: Target
) -> None:
    sink = await make_sink(base_url=proxy.url, timeout="200ms")
    await proxy.set_mode(Mode.DELAY, delay_ms=2000)
    with pytest.raises(TransientError, match="timed out") as caught:
        await sink.deliver(delivery(ORDER))
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert len(target.requests) == 1  # the target got it: only the answer was late


async def test_waiting_for_a_busy_connection_counts_towards_the_timeout(
    proxy: FaultProxy, make_sink: MakeSink
) -> None:
    sink = await make_sink(base_url=proxy.url, timeout="1s", concurrency=1)
    await proxy.set_mode(Mode.DELAY, delay_ms=5000)
    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(sink.deliver(delivery(ORDER)) for _ in range(2)), return_exceptions=True
    )
    assert all(isinstance(o, TransientError) and "timed out" in str(o) for o in outcomes)
    assert time.monotonic() - started < 1.6  # the second's 1 s began as it waited


async def test_refused(proxy: FaultProxy, sink: HttpSink, target: Target) -> None:
    await proxy.set_mode(Mode.REFUSE)
    with pytest.raises(TransientError, match="cannot connect") as caught:
        await sink.deliver(delivery(ORDER))
    assert isinstance(caught.value.__cause__, WireError)
    assert isinstance(caught.value.__cause__.__cause__, ConnectionRefusedError)
    assert (proxy.accepted, target.requests) == (0, [])
    await proxy.set_mode(Mode.PASS)  # listening again, on the same port
    assert (await sink.deliver(delivery(ORDER))).status == 200


async def test_nothing_listening(make_sink: MakeSink) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    sink = await make_sink(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="cannot connect"):
        await sink.deliver(delivery(ORDER))


async def test_reset_on_accept(proxy: FaultProxy, sink: HttpSink, target: Target) -> None:
    await proxy.set_mode(Mode.RESET)
    with pytest.raises(TransientError, match="failed") as caught:
        await sink.deliver(delivery(ORDER))
    assert isinstance(caught.value.__cause__, WireError)
    assert proxy.accepted >= 1
    assert target.requests == []


@pytest.mark.parametrize("body_bytes", [0, 5])
async def test_reset_mid_answer(
    body_bytes: int, proxy: FaultProxy, sink: HttpSink, target: Target
) -> None:
    target.reply(Reply.json(201, {"id": "A-1", "padding": "x" * 500}))
    await proxy.set_mode(Mode.RESET_MID_ANSWER, body_bytes=body_bytes)
    with pytest.raises(TransientError, match="failed") as caught:
        await sink.deliver(delivery(ORDER))
    assert isinstance(caught.value.__cause__, WireError)
    assert "before its whole answer" in str(caught.value)
    assert len(target.requests) == 1  # applied by the target: the idempotency key matters
    await proxy.set_mode(Mode.PASS)
    assert (await sink.deliver(delivery(ORDER))).status == 201


async def test_answer_500(proxy: FaultProxy, sink: HttpSink, target: Target) -> None:
    await proxy.set_mode(Mode.ANSWER_500)
    with pytest.raises(TransientError, match="answered 500 Internal Server Error") as caught:
        await sink.deliver(delivery(ORDER))
    assert caught.value.retry_after is None
    assert target.requests == []


async def test_answer_429_with_retry_after(
    proxy: FaultProxy, sink: HttpSink, target: Target
) -> None:
    await proxy.set_mode(Mode.ANSWER_429, retry_after=17)
    with pytest.raises(TransientError, match="answered 429") as caught:
        await sink.deliver(delivery(ORDER))
    assert caught.value.retry_after == 17.0
    assert target.requests == []


async def test_garbage(proxy: FaultProxy, sink: HttpSink, target: Target) -> None:
    await proxy.set_mode(Mode.GARBAGE)
    with pytest.raises(TransientError, match="failed") as caught:
        await sink.deliver(delivery(ORDER))
    assert isinstance(caught.value.__cause__, WireError)
    assert "not valid HTTP/1.1" in str(caught.value)
    assert proxy.requests == 1
    assert target.requests == []


async def test_modes_switch_between_requests_of_one_sink(proxy: FaultProxy, sink: HttpSink) -> None:
    outcomes: list[str] = []
    for mode in [Mode.PASS, Mode.ANSWER_500, Mode.PASS, Mode.RESET, Mode.PASS, Mode.GARBAGE]:
        await proxy.set_mode(mode)
        try:
            await sink.deliver(delivery(ORDER))
            outcomes.append("ok")
        except TransientError:
            outcomes.append("transient")
    assert outcomes == ["ok", "transient", "ok", "transient", "ok", "transient"]
