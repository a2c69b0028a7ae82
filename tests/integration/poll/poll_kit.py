"""Helpers of the poll tests: a configuration around one poll endpoint, and the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from crossdock.bus import MessageQuery, SqliteBackend
from crossdock.config import Config, load_config
from crossdock.core.envelope import Message

ENDPOINT = "desk"
CURSOR = f"poll:{ENDPOINT}"
TOKEN = "s3cret-desk-token"
ENV = {"DESK_TOKEN": TOKEN, "DESK_PASSWORD": "pa55-word", "DESK_KEY": "k3y-value"}


def write_config(folder: Path, settings: dict[str, Any], *, flows: str = "both") -> Path:
    """A configuration with poll endpoint ``desk`` (``settings``) feeding flow ``tickets``
    (key ``id``) and flow ``audit`` (no key), both delivering to an http endpoint."""
    chosen = {
        "tickets": {"source": ENDPOINT, "key": "id", "targets": [{"endpoint": "erp"}]},
        "audit": {"source": ENDPOINT, "targets": [{"endpoint": "erp"}]},
    }
    if flows != "both":
        chosen = {flows: chosen[flows]}
    document = {
        "version": 1,
        "store": {"path": str(folder / "crossdock.db")},
        "endpoints": {
            ENDPOINT: {"connector": "poll", "settings": settings},
            "erp": {"connector": "http", "settings": {"base_url": "http://127.0.0.1:9"}},
        },
        "flows": chosen,
    }
    path = folder / "crossdock.yaml"
    path.write_bytes(orjson.dumps(document))  # JSON is YAML
    return path


def make_config(folder: Path, settings: dict[str, Any], *, flows: str = "both") -> Config:
    return load_config(write_config(folder, settings, flows=flows), env=ENV)


async def stored_messages(backend: SqliteBackend) -> list[Message]:
    """Every message in the store, oldest first."""
    summaries = await backend.find_messages(MessageQuery(limit=1_000_000))
    messages = []
    for summary in reversed(summaries):
        journey = await backend.journey(summary.id)
        assert journey is not None
        messages.append(journey.message)
    return messages


def versions(messages: list[Message], flow: str) -> list[tuple[str, str]]:
    """(id, updated_at) of the record of each message of ``flow``."""
    return [(m.body["id"], m.body["updated_at"]) for m in messages if m.flow == flow]


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], within: float = 5.0, what: str = ""
) -> None:
    """Wait until ``check()`` holds, polling every 10 ms; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.01)
