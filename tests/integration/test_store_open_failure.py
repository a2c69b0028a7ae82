"""A store that fails to open leaves nothing open behind it."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from crossdock.bus import SqliteBackend
from crossdock.core.errors import StoreUnavailable


async def test_failing_to_open_a_store_leaks_no_file_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.db"
    path.write_bytes(b"this is not an SQLite database, and it is long enough" * 100)
    for attempt in range(21):
        with pytest.raises(StoreUnavailable, match="cannot open the store"):
            await SqliteBackend.open(path)
        if attempt == 0:  # the first one may start the event loop's thread pool
            gc.collect()  # what earlier tests left for the collector goes now, not later
            before = len(os.listdir("/proc/self/fd"))
    assert len(os.listdir("/proc/self/fd")) <= before  # twenty more before the fix
