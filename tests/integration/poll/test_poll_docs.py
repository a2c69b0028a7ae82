"""docs/connectors.md says what the poller does: its example runs, its cursor is real."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

import orjson
from poll_kit import CURSOR, eventually, make_config, stored_messages
from service_desk import Desk

from crossdock.bus import SqliteBackend
from crossdock.runtime.poller import Poller

DOC = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text(encoding="utf-8")
POLL = DOC[DOC.index("\n## poll\n") :]


async def test_the_running_example_runs(desk: Desk, tmp_path: Path) -> None:
    [code] = re.findall(r"```python\n(.*?)```", POLL, re.DOTALL)
    desk.put(1, updated=100)
    config = make_config(tmp_path, {"url": f"{desk.url}/tickets", "interval": "1h"})
    backend = await SqliteBackend.open(tmp_path / "crossdock.db")

    async def stored() -> bool:
        return len(await stored_messages(backend)) == 2

    body = code.replace("...\n", "await eventually(stored)  # the test waits here\n")
    source = "async def example():\n" + textwrap.indent(body, "    ")
    namespace = {"asyncio": asyncio, "backend": backend, "config": config}
    namespace |= {"eventually": eventually, "stored": stored, "__name__": "docs"}
    try:
        exec(compile(source, "connectors.md", "exec", dont_inherit=True), namespace)
        await asyncio.wait_for(namespace["example"](), 10)  # type: ignore[operator]
        assert len(desk.requests) == 1
        assert [m.flow for m in await stored_messages(backend)] == ["tickets", "audit"]
    finally:
        await backend.close()


async def test_the_cursor_shown_is_the_cursor_stored(
    desk: Desk, backend: SqliteBackend, tmp_path: Path
) -> None:
    [shown] = re.findall(r"```json\n(.*?)```", POLL, re.DOTALL)
    example = orjson.loads(shown)
    desk.tickets = {
        "T-17": {"id": "T-17", "updated_at": example["value"]},
        "T-18": {"id": "T-18", "updated_at": example["value"]},
        "T-16": {"id": "T-16", "updated_at": "2025-03-01T09:00:00Z"},
    }
    settings = {
        "url": f"{desk.url}/tickets",
        "record_key": "id",
        "cursor": {"param": "updated_since", "field": "updated_at"},
    }
    await Poller(backend, make_config(tmp_path, settings), "desk").poll_once()
    assert await backend.get_cursor(CURSOR) == example
