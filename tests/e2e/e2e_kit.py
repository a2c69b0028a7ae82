"""The hub as a black box: a real ``crossdock run`` subprocess, a real HTTP target, polling.

- `write_config`: a YAML configuration in a test's folder (store, server, endpoints, flows).
- `HubProcess`: ``python -m crossdock run CONFIG`` as a subprocess, its stderr (JSON log
  lines) appended to a file across restarts; `wait_ready` polls ``/readyz``; `stop` sends
  SIGTERM and returns the exit status and how long it took; `kill` sends SIGKILL.
- `Target`: an aiohttp server on loopback that records every request (its arrival time,
  headers, body) and answers as the test says: a queue of scripted replies, then a
  default that may be any function of the request (also a coroutine, to hold an answer).
- `post_hook`, `metric_value`, `crossdock_cli`: a webhook, one Prometheus sample, an
  operator command (run without blocking the event loop the target is served on).
- `wait_until`: polling with a timeout; the only way these tests wait for anything.
- `journey`, `store_counts`: the journal and message statuses, read from the store file.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from multidict import CIMultiDictProxy

from crossdock.bus import Journey, SqliteBackend

# tests/faultproxy.py is shared by several test folders; make it importable from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from faultproxy import FaultProxy, Mode

HOST = "127.0.0.1"


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


@contextlib.contextmanager
def killed_at_the_end(pids: list[int]) -> Iterator[None]:
    """Processes left behind by a failed test (workers whose parent is gone) are killed."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, document: dict[str, Any], name: str = "crossdock.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump({"version": 1, **document}, sort_keys=False))
    return path


def feed_config(
    folder: Path,
    port: int,
    target_url: str,
    *,
    server: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
    sink: dict[str, Any] | None = None,
    flow: dict[str, Any] | None = None,
) -> Path:
    """The smallest hub: webhook endpoint ``feed``, flow ``stream``, http endpoint ``sink``
    at ``target_url``; each part's extra settings merged in."""
    return write_config(
        folder,
        {
            "store": {"path": "hub.db"},
            "server": {"port": port, **(server or {})},
            "endpoints": {
                "feed": {"connector": "webhook", "settings": feed or {}},
                "sink": {"connector": "http", "settings": {"base_url": target_url, **(sink or {})}},
            },
            "flows": {
                "stream": {"source": "feed", "targets": [{"endpoint": "sink"}], **(flow or {})}
            },
        },
    )


# -- waiting -------------------------------------------------------------------------------


async def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> Any:
    """Poll ``condition`` (a function, or a coroutine function) until it returns something
    truthy; return that. AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


# -- the hub -------------------------------------------------------------------------------


class HubProcess:
    """``crossdock run`` in a subprocess. Start, restart, stop and kill it at will."""

    def __init__(
        self,
        config: Path,
        port: int,
        *,
        workers: int = 1,
        grace: float | None = None,
        log: Path | None = None,
    ) -> None:
        self.config = config
        self.port = port
        self.workers = workers
        self.grace = grace
        self.log = log or config.with_name("hub.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the hub is running"
        command = [sys.executable, "-m", "crossdock", "run", str(self.config)]
        command += ["--workers", str(self.workers)]
        if self.grace is not None:
            command += ["--grace", str(self.grace)]
        with self.log.open("ab") as log:
            log.write(f'{{"e2e": "start {self.starts}"}}\n'.encode())
            log.flush()
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=self.config.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Poll ``/readyz`` until it answers 200; fail at once if the process ends."""

        async def ready() -> bool:
            if not self.running():
                raise AssertionError(f"the hub exited early:\n{self.log_tail()}")
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(
                        f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                    ) as answer,
                ):
                    return answer.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await wait_until(ready, timeout=timeout, what="/readyz 200", interval=0.1)

    async def start_ready(self, timeout: float = 90.0) -> None:
        self.start()
        await self.wait_ready(timeout)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        proc = self.proc
        await wait_until(lambda: proc.poll() is not None, timeout=timeout, what="the hub to exit")
        return int(proc.returncode)

    async def stop(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds until the process ended."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit(timeout)
        return code, time.monotonic() - started

    async def kill(self) -> None:
        """SIGKILL (the process, not its children: ``--workers 1`` has none)."""
        assert self.proc is not None
        self.proc.kill()
        await self.wait_exit(10)

    def children(self) -> list[int]:
        """Pids of the hub's child processes (the workers with ``--workers N``)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def cleanup(self) -> None:
        """Kill whatever still runs (a failed test), and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            with_children = self.children() if self.workers > 1 else []
            self.proc.kill()
            for pid in with_children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(10)

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far (other lines skipped)."""
        lines = []
        for raw in self.log.read_bytes().splitlines():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue
        return lines

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# -- the target ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One request as the target received it; ``at`` is ``time.time()`` on arrival."""

    at: float
    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    index: int  # 0-based position among all requests the target received

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    @property
    def message_id(self) -> str:
        return self.headers.get("X-Crossdock-Message-Id", "")

    @property
    def attempt(self) -> int:
        return int(self.headers.get("X-Crossdock-Attempt", "0"))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON value; None: an empty body
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        if self.body is None:
            return web.Response(status=self.status, headers=self.headers)
        return web.Response(
            status=self.status,
            body=orjson.dumps(self.body),
            headers={"Content-Type": "application/json", **self.headers},
        )


Responder = Callable[[Arrival], "Reply | Awaitable[Reply]"]


def created(arrival: Arrival) -> Reply:
    """The default answer: 201 with the new record's id at ``data.id`` (``T<index>``)."""
    return Reply(201, {"data": {"id": f"T{arrival.index}"}})


class Target:
    """A system the hub delivers to: records every request, answers as told.

    Answers come from `script` (one scripted reply per request, in order) while it lasts,
    then from `respond` (a function of the request; a coroutine function may hold the
    answer back).
    """

    def __init__(self, respond: Responder = created) -> None:
        self.arrivals: list[Arrival] = []
        self.respond: Responder = respond
        self.script: deque[Reply] = deque()
        self.port = 0
        self._runner: web.ServerRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self._runner = web.ServerRunner(
            web.Server(self._handle), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        arrival = Arrival(
            at=time.time(),
            method=request.method,
            path=request.raw_path,
            headers=request.headers,
            body=await request.read(),
            index=len(self.arrivals),
        )
        self.arrivals.append(arrival)
        if self.script:
            return self.script.popleft().response()
        reply = self.respond(arrival)
        if inspect.isawaitable(reply):
            reply = await reply
        assert isinstance(reply, Reply)
        return reply.response()

    def at(self, path_prefix: str) -> list[Arrival]:
        """The requests whose path starts with ``path_prefix``, in arrival order."""
        return [a for a in self.arrivals if a.path.startswith(path_prefix)]


class TimedProxy(FaultProxy):
    """A `FaultProxy` that also notes when it made up each answer (500, 429, garbage):
    ``made_up`` holds ``(time.time(), mode)`` pairs, in order."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.made_up: list[tuple[float, Mode]] = []

    def _made_up_answer(self, mode: Mode) -> bytes:
        self.made_up.append((time.time(), mode))
        return super()._made_up_answer(mode)


# -- HTTP helpers --------------------------------------------------------------------------


async def post_hook(
    session: aiohttp.ClientSession,
    hub_url: str,
    endpoint: str,
    body: Any,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """POST a JSON webhook; the status and the JSON answer (None if not JSON)."""
    async with session.post(
        f"{hub_url}/hooks/{endpoint}",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as answer:
        raw = await answer.read()
        try:
            return answer.status, orjson.loads(raw)
        except orjson.JSONDecodeError:
            return answer.status, None


async def metric_value(session: aiohttp.ClientSession, hub_url: str, sample: str) -> float | None:
    """The value of one sample of ``/metrics``, e.g. ``name{label="x"}``; None if absent."""
    async with session.get(f"{hub_url}/metrics") as answer:
        text = await answer.text()
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return None


async def crossdock_cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``crossdock ARGS`` (``python -m crossdock``) without blocking the event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode(), err.decode()


# -- the store, read from outside ------------------------------------------------------------


async def open_store(store: Path) -> SqliteBackend:
    """The hub's store, opened beside it (reads; replays). Close it at the end."""
    return await SqliteBackend.open(store)


async def journey(store: Path, message_id: str) -> Journey:
    backend = await SqliteBackend.open(store)
    try:
        found = await backend.journey(message_id)
    finally:
        await backend.close()
    assert found is not None, f"no message {message_id} in {store}"
    return found


def steps(found: Journey, destination: str | None = None) -> list[str]:
    """The journal's steps, in order (only those at ``destination`` if given, plus
    ``received``/``routed``, which have none)."""
    return [
        e.step.value
        for e in found.entries
        if destination is None or e.destination in (None, "intake", destination)
    ]


def store_counts(store: Path) -> dict[str, int]:
    """Messages per status, read with a plain connection (nothing written)."""
    conn = sqlite3.connect(store, timeout=10)
    try:
        rows = conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()
    finally:
        conn.close()
    return {str(status): int(count) for status, count in rows}


def integrity_check(store: Path) -> str:
    conn = sqlite3.connect(store, timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
