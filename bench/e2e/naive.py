"""The naive pipeline: the ceiling of Python for this flow, with no durability at all.

    python bench/e2e/naive.py --port 8001 --target http://127.0.0.1:9000/orders \
        [--server asgi|aiohttp] [--processes 2] [--workers 32]

``POST /hooks/<endpoint>``: parse the JSON, apply the mapping (`common.map_order`), put the
result on an ``asyncio.Queue`` and answer 202. ``--workers`` tasks take from the queue and
POST to the target with one aiohttp session (errors are counted and dropped: no retry, no
journal, nothing on disk; a crash loses the queue). ``GET /readyz`` answers 200.

``--server asgi`` serves a raw ASGI function with uvicorn (httptools, uvloop), the stack
crossdock's intake runs on; ``--server aiohttp`` uses ``aiohttp.web``. With
``--processes N`` the parent starts N children that each bind the port with SO_REUSEPORT
(the kernel spreads connections over them) and forwards SIGTERM to them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Generator
from typing import Any

import aiohttp
import orjson
import uvicorn
import uvloop
from aiohttp import web
from common import map_order

ACCEPTED = b'{"accepted":true}'
JSON_HEADERS = {"Content-Type": "application/json"}


class Pipeline:
    def __init__(self, target: str, workers: int) -> None:
        self.target = target
        self.workers = workers
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors = 0

    def accept(self, raw: bytes) -> bool:
        """Parse and map ``raw`` and enqueue it; False if it is not a valid order."""
        try:
            mapped = map_order(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return False
        self.queue.put_nowait(mapped)
        return True

    async def deliver(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.workers)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session) for _ in range(self.workers)))

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            mapped = await self.queue.get()
            try:
                async with session.post(
                    self.target, data=orjson.dumps(mapped), headers=JSON_HEADERS
                ) as answer:
                    await answer.read()
                    if answer.status >= 300:
                        self.errors += 1
            except (aiohttp.ClientError, TimeoutError):
                self.errors += 1


def asgi_app(pipeline: Pipeline) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST" and scope["path"].startswith("/hooks/"):
            chunks = []
            more = True
            while more:
                event = await receive()
                chunks.append(event.get("body", b""))
                more = event.get("more_body", False)
            ok = pipeline.accept(b"".join(chunks))
            status, body = (202, ACCEPTED) if ok else (422, b'{"error":"invalid order"}')
        elif scope["path"] == "/readyz":
            status, body = 200, b'{"ready":true}'
        else:
            status, body = 404, b'{"error":"not found"}'
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def aiohttp_app(pipeline: Pipeline) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        if pipeline.accept(await request.read()):
            return web.Response(status=202, body=ACCEPTED, content_type="application/json")
        return web.Response(status=422, text='{"error":"invalid order"}')

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"ready":true}', content_type="application/json")

    app = web.Application(client_max_size=2**20)
    app.router.add_post("/hooks/{endpoint}", hook)
    app.router.add_get("/readyz", ready)
    return app


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def reuse_port_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


async def serve(args: argparse.Namespace) -> None:
    pipeline = Pipeline(args.target, args.workers)
    delivering = asyncio.create_task(pipeline.deliver())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sock = reuse_port_socket(args.port)
    if args.server == "asgi":
        config = uvicorn.Config(
            asgi_app(pipeline),
            lifespan="off",
            log_config=None,
            access_log=False,
            loop="none",
            http="httptools",
            backlog=2048,
        )
        server = QuietServer(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await stop.wait()
        server.should_exit = True
        await serving
    else:
        runner = web.AppRunner(aiohttp_app(pipeline), access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=2048).start()
        await stop.wait()
        await runner.cleanup()
    delivering.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await delivering


def supervise(args: argparse.Namespace) -> None:
    """Start ``args.processes`` children on the same port; forward SIGTERM; wait."""
    command = [
        sys.executable,
        __file__,
        "--port",
        str(args.port),
        "--target",
        args.target,
        "--server",
        args.server,
        "--workers",
        str(args.workers),
        "--processes",
        "1",
    ]
    children = [subprocess.Popen(command) for _ in range(args.processes)]

    def forward(sig: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="URL deliveries are POSTed to")
    parser.add_argument("--server", choices=("asgi", "aiohttp"), default="asgi")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=32, help="delivery tasks per process")
    args = parser.parse_args()
    if args.processes > 1:
        supervise(args)
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
