"""The naive pipeline: the ceiling of Python for this flow, with no durability at all.

    python bench/e2e/naive.py --port 8001 --target http://127.0.0.1:9000/orders \
        [--server asgi|aiohttp] [--processes 2] [--workers 32]

``POST /hooks/<endpoint>``: parse the JSON, apply the mapping (`common.map_order`), put the
result on an ``asyncio.Queue`` and answer 202. ``--workers`` tasks take from the queue and
POST to the target with one aiohttp session (errors are counted and dropped: no retry, no
journal, nothing on disk; a crash loses the queue). ``GET /readyz`` answers 200.

``--durable FILE`` makes it the floor of a durable pipeline instead: the 202 is sent only
after the order is in an SQLite file (WAL, ``synchronous=FULL``, like crossdock's store),
written by one thread in group commits (every order waiting at that moment, one
transaction, one fsync); a delivered order is deleted in a later group commit. Nothing
else: no journal, no retry, no per-key order, no leases, no recovery on restart. It is
what any pipeline that answers 202 only for what is on disk pays at least, on this stack.
Each process has a file of its own (``FILE.<pid>``), so no process waits for another; with
``--shared`` they all write ``FILE`` and take turns through a lock file (``FILE.lock``, as
crossdock's workers do): the floor of processes that share one store.

``--server asgi`` serves a raw ASGI function with uvicorn (httptools, uvloop), the stack
crossdock's intake runs on; ``--server aiohttp`` uses ``aiohttp.web``. With
``--processes N`` the parent starts N children that each bind the port with SO_REUSEPORT
(the kernel spreads connections over them) and forwards SIGTERM to them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
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


class Store:
    """Orders on disk: one writer thread, group commits (see the module docstring)."""

    def __init__(self, path: str, *, shared: bool = False) -> None:
        self.path = path
        self._lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT) if shared else None
        self._jobs: queue.SimpleQueue[tuple[asyncio.Future[int] | None, bytes | int]] = (
            queue.SimpleQueue()
        )
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, raw: bytes) -> asyncio.Future[int]:
        """The order's row id, once its transaction has committed."""
        future: asyncio.Future[int] = self._loop.create_future()
        self._jobs.put((future, raw))
        return future

    def done(self, rowid: int) -> None:
        self._jobs.put((None, rowid))

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, body BLOB)")
        while True:
            batch = [self._jobs.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._jobs.get_nowait())
            answers: list[tuple[asyncio.Future[int], int]] = []
            delivered: list[tuple[int]] = []
            if self._lock is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX)
            conn.execute("BEGIN IMMEDIATE")
            for future, item in batch:
                if future is None:
                    assert isinstance(item, int)
                    delivered.append((item,))
                else:
                    cursor = conn.execute("INSERT INTO orders (body) VALUES (?)", (item,))
                    answers.append((future, cursor.lastrowid or 0))
            conn.executemany("DELETE FROM orders WHERE id = ?", delivered)
            conn.execute("COMMIT")
            if self._lock is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[int], int]]) -> None:
    for future, rowid in answers:
        future.set_result(rowid)


class Pipeline:
    def __init__(self, target: str, workers: int, store: Store | None = None) -> None:
        self.target = target
        self.workers = workers
        self.store = store
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.errors = 0

    def accept(self, raw: bytes) -> bool:
        """Parse and map ``raw`` and enqueue it; False if it is not a valid order."""
        try:
            mapped = map_order(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return False
        self.queue.put_nowait(mapped)
        return True

    async def accept_durable(self, raw: bytes) -> bool:
        """`accept`, answering only once the order is on disk."""
        assert self.store is not None
        try:
            mapped = map_order(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return False
        rowid = await self.store.put(raw)
        self.queue.put_nowait((rowid, mapped))
        return True

    async def deliver(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.workers)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session) for _ in range(self.workers)))

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            item = await self.queue.get()
            rowid, mapped = item if self.store is not None else (0, item)
            try:
                async with session.post(
                    self.target, data=orjson.dumps(mapped), headers=JSON_HEADERS
                ) as answer:
                    await answer.read()
                    if answer.status >= 300:
                        self.errors += 1
                    elif self.store is not None:
                        self.store.done(rowid)
            except (aiohttp.ClientError, TimeoutError):
                self.errors += 1


def asgi_app(pipeline: Pipeline) -> Any:
    durable = pipeline.accept_durable if pipeline.store is not None else None

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
            raw = b"".join(chunks)
            ok = pipeline.accept(raw) if durable is None else await durable(raw)
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
    store = None
    if args.durable:
        path = args.durable if args.shared else f"{args.durable}.{os.getpid()}"
        store = Store(path, shared=args.shared)
    pipeline = Pipeline(args.target, args.workers, store)
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
        *(["--durable", args.durable] if args.durable else []),
        *(["--shared"] if args.shared else []),
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
    parser.add_argument("--durable", metavar="FILE", help="the durable floor (asgi only)")
    parser.add_argument("--shared", action="store_true", help="with --durable: one file")
    args = parser.parse_args()
    if args.durable and args.server != "asgi":
        parser.error("--durable needs --server asgi")
    if args.processes > 1:
        supervise(args)
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
