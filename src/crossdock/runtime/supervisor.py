"""`crossdock run`: one hub process, or N worker processes sharing the port and the store.

With ``workers > 1`` the parent opens one listening socket per worker on the same port
(``SO_REUSEPORT``: the kernel spreads new connections evenly over them; one shared socket
let whichever worker woke first take most of them), forks N hubs that each accept on
their own and share the store, forwards SIGTERM/SIGINT to them, and restarts a worker
that dies on the same socket (the parent keeps it open, so connections waiting in its
queue are served by the new worker; a crash loses nothing: its leases expire and its
deliveries are handed out again).

A worker that fails before it was ever ready (its store or its targets could not be
opened) would fail again at each restart: the whole hub stops instead, exit 1, with that
worker's error. A worker whose parent dies (even by SIGKILL) shuts down as on SIGTERM,
so no orphan keeps serving the port and the store.

One hub per store: the parent holds the store's claim (`claim_store`), its workers
inherit it, and another ``crossdock run`` on the same store is refused at start.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
import uvloop

from crossdock.bus import Backend
from crossdock.bus.sqlite.backend import claim_store
from crossdock.config import Config
from crossdock.connectors.base import Sink
from crossdock.core.errors import CrossdockError
from crossdock.observability.metrics import forget_process
from crossdock.runtime.hub import Hub

log = structlog.get_logger(component="supervisor")


# Collect the youngest generation after this many new container objects, not 700: each
# message allocates hundreds, and most die young anyway (their cycles are rare), so the
# default runs a collection every few messages for little gain (~12% of the hub's CPU).
_GC_THRESHOLDS = (20_000, 20, 50)


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running hub process.

    What exists at start (modules, configuration, plans) lives as long as the process:
    frozen, the older generations' collections no longer walk it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


def run_hub(config: Config, *, workers: int = 1, grace: float = 10.0) -> int:
    """Run until SIGTERM/SIGINT; the exit status (0 after a clean shutdown).

    CrossdockError when the hub cannot start: its port or its store is taken, the store
    cannot be opened (also by a worker of ``workers > 1``), ...
    """
    sockets = _bind(config.server.host, config.server.port, max(1, workers))
    try:
        claim = claim_store(config.store.path)
    except CrossdockError:
        for sock in sockets:
            sock.close()
        raise
    try:
        _tune_gc()
        _raise_open_files(config)
        if workers <= 1:
            uvloop.run(Hub(config, grace=grace).run(sockets=sockets))
            return 0
        return _supervise(config, sockets, grace)
    finally:
        os.close(claim)


# Besides client connections: the store's files, connections to targets, pollers, logs.
_SPARE_FILES = 256


def _raise_open_files(config: Config) -> None:
    """Allow as many open files as `server.max_connections` needs, within the hard limit.

    The usual soft limit (1024) would otherwise make the hub fail to accept connections,
    and to open files, long before it reaches its connection limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    targets = sum(
        int(getattr(e.settings, "concurrency", 0) or 0) for e in config.endpoints.values()
    )
    wanted = config.server.max_connections + targets + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning(
                "open files limited below what server.max_connections needs",
                limit=new,
                needed=wanted,
            )


def _bind(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on one port (``SO_REUSEPORT`` when more than one).

    Bound before anything else starts, so a taken port is a clear error at once (also
    for ``count > 1``, though SO_REUSEPORT sockets could share it: see below).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        if count > 1 and port != 0:
            # Sockets with SO_REUSEPORT share a port with any other such socket of the same
            # user: another hub still running there would silently take half the traffic
            # (and run its pollers beside ours). A plain bind fails while anyone listens.
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # port 0: the others join the one chosen
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CrossdockError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sockets


class _Worker(Hub):
    """A hub that tells its parent, by writing ``R`` to ``report``, that it is ready:
    its store and its targets are open and it begins to serve."""

    def __init__(
        self,
        config: Config,
        report: int,
        *,
        grace: float,
        workers_total: int,
        run_pollers: bool,
        shared_metrics: str,
    ) -> None:
        super().__init__(
            config,
            grace=grace,
            workers_total=workers_total,
            run_pollers=run_pollers,
            shared_metrics=shared_metrics,
        )
        self.report = report
        self.ready = False

    async def _serve(
        self, backend: Backend, sinks: dict[str, Sink], sockets: Sequence[socket.socket] | None
    ) -> None:
        os.write(self.report, b"R")
        self.ready = True
        await super()._serve(backend, sinks, sockets)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when its parent dies, however it died: the worker then shuts
    down cleanly, as on a SIGTERM the parent forwards.

    Linux sends it (``PR_SET_PDEATHSIG``) the moment the parent is gone, at no cost;
    elsewhere a thread checks the parent's pid every second.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        armed = prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if not armed:
        threading.Thread(
            target=_watch_parent, args=(parent,), name="crossdock-parent", daemon=True
        ).start()
    elif os.getppid() != parent:  # it died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _child(
    config: Config,
    sockets: list[socket.socket],
    grace: float,
    index: int,
    report: int,
    shared_metrics: str,
) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # until the hub handles them: die at once
    _die_with_parent(os.getppid())
    for other, sock in enumerate(sockets):
        if other != index:
            sock.close()  # the other workers' queues: only the parent keeps them open
    hub: _Worker | None = None
    code = 1
    try:
        hub = _Worker(
            config,
            report,
            grace=grace,
            workers_total=len(sockets),
            run_pollers=index == 0,
            shared_metrics=shared_metrics,
        )
        uvloop.run(hub.run(sockets=[sockets[index]]))
        code = 0
    except CrossdockError as exc:
        if hub is not None and hub.ready:
            log.exception("worker failed")
        else:  # the parent stops the hub and shows this, as one line
            os.write(report, b"E" + str(exc).encode())
    except BaseException as exc:
        log.exception("worker failed")
        if hub is None or not hub.ready:
            os.write(report, b"E" + f"worker {index} failed at start: {exc!r}".encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass(slots=True)
class _Child:
    index: int
    report: int  # read end of the pipe the worker reports on


def _supervise(config: Config, sockets: list[socket.socket], grace: float) -> int:
    shared_metrics = _metrics_folder(config)
    try:
        return _watch(config, sockets, grace, shared_metrics)
    finally:
        shutil.rmtree(shared_metrics, ignore_errors=True)


def _metrics_folder(config: Config) -> str:
    """The workers' metrics files, shared so that any worker's /metrics shows the whole
    hub: ``STORE.metrics``, empty. This process holds the store's claim, so a folder found
    there was left by an earlier hub on this store that was killed before it could remove
    it (its counts must not be added to this run's)."""
    folder = f"{config.store.path}.metrics"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        os.mkdir(folder, 0o700)
    except OSError as exc:
        raise CrossdockError(f"cannot create {folder}: {exc.strerror}") from None
    return folder


def _watch(config: Config, sockets: list[socket.socket], grace: float, shared_metrics: str) -> int:
    children: dict[int, _Child] = {}

    def spawn(index: int) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            for child in children.values():
                os.close(child.report)
            _child(config, sockets, grace, index, write, shared_metrics)
        os.close(write)
        os.set_blocking(read, False)
        children[pid] = _Child(index, read)

    stopping = False

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # Worker 0 alone runs the pollers: two pollers of one endpoint would store twice.
    for index in range(len(sockets)):
        spawn(index)
    failure: str | None = None
    failures = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        child = children.pop(pid, None)
        if child is None:
            continue
        forget_process(shared_metrics, pid)
        told = _report(child.report)
        if stopping:
            continue
        if not told.startswith(b"R"):
            failure = told[1:].decode(errors="replace") if told else _unready(child, status)
            forward(signal.SIGTERM, None)
            continue
        failures += 1
        log.error("worker died; starting another", pid=pid, status=status)
        time.sleep(min(5.0, 0.2 * failures))
        spawn(child.index)
    for sock in sockets:
        sock.close()
    if failure is not None:
        raise CrossdockError(failure)
    return 0


def _report(fd: int) -> bytes:
    """What a worker that ended wrote on its pipe: ``R`` once ready, ``E<error>`` if it
    failed before that; nothing if it died before either."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    finally:
        os.close(fd)


def _unready(child: _Child, status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return f"worker {child.index} {how} before it was ready"
