"""One bad operation fails alone: the others committed with it are not harmed."""

from __future__ import annotations

import asyncio

import pytest

from crossdock.bus.base import Backend, MessageQuery
from crossdock.core.envelope import Message
from crossdock.core.errors import StoreError, StoreUnavailable


def order(n: int, body: object = None) -> Message:
    return Message.new(
        flow="orders", source="shop", event_type="created", body=body or {"n": n}, key=f"k{n}"
    )


async def test_an_unstorable_body_fails_alone(backend: Backend) -> None:
    good = [order(n) for n in range(20)]
    bad = order(99, {"n": 2**70})  # not representable as a JSON number the store keeps
    results = await asyncio.gather(
        *(backend.enqueue(m) for m in good[:10]),
        backend.enqueue(bad),
        *(backend.enqueue(m) for m in good[10:]),
        return_exceptions=True,
    )
    assert isinstance(results[10], Exception)
    assert not isinstance(results[10], StoreUnavailable)  # retrying would never help
    assert all(not isinstance(r, Exception) for i, r in enumerate(results) if i != 10)
    stored = await backend.find_messages(MessageQuery(flow="orders", limit=100))
    assert {m.id for m in stored} == {m.id for m in good}


async def test_the_same_message_twice_is_refused_not_transient(backend: Backend) -> None:
    message = order(1)
    await backend.enqueue(message)
    others = [order(n) for n in range(2, 6)]
    results = await asyncio.gather(
        backend.enqueue(message), *(backend.enqueue(m) for m in others), return_exceptions=True
    )
    assert isinstance(results[0], StoreError)
    assert not isinstance(results[0], StoreUnavailable)
    assert all(not isinstance(r, Exception) for r in results[1:])
    stored = await backend.find_messages(MessageQuery(flow="orders"))
    assert len(stored) == 5


@pytest.mark.parametrize("count", [1, 50])
async def test_batches_of_any_size_all_commit(backend: Backend, count: int) -> None:
    messages = [order(n) for n in range(count)]
    await asyncio.gather(*(backend.enqueue(m) for m in messages))
    stored = await backend.find_messages(MessageQuery(flow="orders", limit=1000))
    assert len(stored) == count
