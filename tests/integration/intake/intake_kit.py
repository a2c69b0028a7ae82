"""A real intake to test: uvicorn on 127.0.0.1, a real SQLite store, an aiohttp client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

from crossdock.bus import MessageQuery, SqliteBackend
from crossdock.bus.base import MessageSummary
from crossdock.config import Config, load_config
from crossdock.core.envelope import Message
from crossdock.intake import IntakeApp, create_intake_app
from crossdock.intake.server import uvicorn_config
from crossdock.observability import Metrics

SECRETS = {
    "OLD": "old-shared-secret",
    "NEW": "new-shared-secret",
    "WH1": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "WH2": "whsec_c2Vjb25kLXN0YW5kYXJkLXNlY3JldA==",
}

CONFIG = """\
version: 1
server: {max_body_bytes: 4096, retry_after: 7}
endpoints:
  shop:
    connector: webhook
    settings:
      content_types: [json, form, xml]
      idempotency_header: Idempotency-Key
      correlation_header: X-Correlation-ID
      max_depth: 8
  signed:
    connector: webhook
    settings:
      signature: sha256
      secrets: ["${env:OLD}", "${env:NEW}"]
      max_body_bytes: 1024
  std:
    connector: webhook
    settings:
      signature: standard-webhooks
      secrets: ["${env:WH1}", "${env:WH2}"]
      idempotency_header: webhook-id
  desk:
    connector: webhook
    settings: {content_types: [form]}
  lonely: {connector: webhook}
  erp:
    connector: http
    settings: {base_url: "http://127.0.0.1:9"}
flows:
  orders: {source: shop, key: order.id, targets: [{endpoint: erp}]}
  lines: {source: shop, key: order.lines.0.sku, targets: [{endpoint: erp}]}
  signed-in: {source: signed, key: id, targets: [{endpoint: erp}]}
  std-in: {source: std, key: id, targets: [{endpoint: erp}]}
  tickets: {source: desk, key: ticket, targets: [{endpoint: erp}]}
"""

FLOWS_OF = {
    "shop": {"orders", "lines"},
    "signed": {"signed-in"},
    "std": {"std-in"},
    "desk": {"tickets"},
}


def write_config(directory: Path, text: str = CONFIG) -> Config:
    path = directory / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=SECRETS)


async def wait_for(
    condition: Callable[[], Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    json: Any


@dataclass
class Intake:
    """A running intake, its store and a client."""

    url: str
    port: int
    app: IntakeApp
    backend: SqliteBackend
    metrics: Metrics
    session: aiohttp.ClientSession

    async def request(
        self, method: str, path: str, data: Any = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        async with self.session.request(
            method, self.url + path, data=data, headers=dict(headers or {})
        ) as response:
            raw = await response.read()
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = raw
            return Reply(response.status, response.headers, body)

    async def post(
        self, endpoint: str, data: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return await self.request("POST", f"/hooks/{endpoint}", data, headers)

    async def post_json(self, endpoint: str, raw: bytes, **headers: str) -> Reply:
        return await self.post(endpoint, raw, {"Content-Type": "application/json", **headers})

    async def stored(self) -> list[MessageSummary]:
        return await self.backend.find_messages(MessageQuery(limit=100_000))

    async def message(self, message_id: str) -> Message:
        journey = await self.backend.journey(message_id)
        assert journey is not None, message_id
        return journey.message


@contextlib.asynccontextmanager
async def serve(config: Config, store: Path, **backend_options: Any) -> AsyncIterator[Intake]:
    """Run the intake for ``config`` on a free port until the block ends."""
    backend = await SqliteBackend.open(store, **backend_options)
    metrics = Metrics()
    app = create_intake_app(config, backend, metrics=metrics)
    server = uvicorn.Server(uvicorn_config(app, config.server, port=0))  # as the hub serves
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: _started(server, task), what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield Intake(f"http://127.0.0.1:{port}", port, app, backend, metrics, session)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await app.close()
        await backend.close()


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
        raise AssertionError("uvicorn stopped before it started")
    return server.started
