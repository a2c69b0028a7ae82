"""`CoalescedTransport`: what the intake writes in one turn of the event loop goes out in
one write, in order, and nothing pending is lost when the connection is closed."""

from __future__ import annotations

import asyncio
from typing import Any

from crossdock.intake.server import CoalescedTransport


class Recording(asyncio.Transport):
    """A transport that records what is done to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7


async def test_writes_of_one_turn_leave_in_one_write_at_its_end() -> None:
    inner = Recording()
    out = CoalescedTransport(inner, asyncio.get_running_loop())
    out.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    out.writelines([b"{", b"}"])
    assert inner.calls == []  # not yet: the turn is not over
    assert out.get_write_buffer_size() == 7 + 46
    await asyncio.sleep(0)
    assert inner.calls == [("write", b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")]
    out.write(b"next")
    await asyncio.sleep(0)
    assert inner.calls[1:] == [("write", b"next")]  # the next turn's writes: a write of their own


async def test_closing_or_ending_sends_what_is_pending_first() -> None:
    loop = asyncio.get_running_loop()
    inner = Recording()
    out = CoalescedTransport(inner, loop)
    out.write(b"answer")
    out.write_eof()
    assert inner.calls == [("write", b"answer"), ("write_eof", None)]
    out.write(b"last")
    out.close()
    assert inner.calls[2:] == [("write", b"last"), ("close", None)]
    await asyncio.sleep(0)  # the turn's flush finds nothing more to send
    assert len(inner.calls) == 4


async def test_aborting_drops_what_is_pending_and_a_lost_connection_gets_nothing() -> None:
    loop = asyncio.get_running_loop()
    inner = Recording()
    out = CoalescedTransport(inner, loop)
    out.write(b"dropped")
    out.abort()
    await asyncio.sleep(0)
    assert inner.calls == [("abort", None)]

    lost = Recording()
    out = CoalescedTransport(lost, loop)
    out.write(b"too late")
    lost.closing = True  # the peer went away before the turn ended
    await asyncio.sleep(0)
    assert lost.calls == []
