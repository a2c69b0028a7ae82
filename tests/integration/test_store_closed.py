"""A closed store answers at once: an operation submitted after `close` (a delivery
giving back its lease as the hub stops, say) fails with StoreUnavailable instead of
waiting forever for a writer that is gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crossdock.bus import SqliteBackend
from crossdock.core.envelope import Message
from crossdock.core.errors import StoreUnavailable


async def test_a_write_after_close_fails_at_once(tmp_path: Path) -> None:
    backend = await SqliteBackend.open(tmp_path / "s.db")
    await backend.enqueue(Message.new(flow="f", source="s", event_type="e", body={}, key="k"))
    await backend.close()
    later = Message.new(flow="f", source="s", event_type="e", body={}, key="k")
    with pytest.raises(StoreUnavailable, match="closed"):
        await asyncio.wait_for(backend.enqueue(later), 5)
