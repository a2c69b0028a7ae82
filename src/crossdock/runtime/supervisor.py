"""`crossdock run`: one hub process, or N worker processes sharing one listening socket.

With ``workers > 1`` the parent binds the socket, forks N hubs that all accept on it and
share the store, forwards SIGTERM/SIGINT to them, and restarts a worker that dies (a
crash loses nothing: its leases expire and its deliveries are handed out again).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import time

import structlog
import uvloop

from crossdock.config import Config
from crossdock.core.errors import CrossdockError
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
    """Run until SIGTERM/SIGINT; the exit status (0 after a clean shutdown)."""
    sock = _bind(config.server.host, config.server.port)
    _tune_gc()
    if workers <= 1:
        uvloop.run(Hub(config, grace=grace).run(sockets=[sock]))
        return 0
    return _supervise(config, sock, workers, grace)


def _bind(host: str, port: int) -> socket.socket:
    """Listen before anything else starts, so a taken port is a clear error at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CrossdockError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _child(config: Config, sock: socket.socket, workers: int, grace: float, index: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        hub = Hub(config, grace=grace, workers_total=workers, run_pollers=index == 0)
        uvloop.run(hub.run(sockets=[sock]))
        code = 0
    except BaseException:
        log.exception("worker failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _spawn(config: Config, sock: socket.socket, workers: int, grace: float, index: int) -> int:
    pid = os.fork()
    if pid == 0:
        _child(config, sock, workers, grace, index)
    return pid


def _supervise(config: Config, sock: socket.socket, workers: int, grace: float) -> int:
    # Worker 0 alone runs the pollers: two pollers of one endpoint would store twice.
    children = {_spawn(config, sock, workers, grace, i): i for i in range(workers)}
    stopping = False

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failures = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if stopping or index is None:
            continue
        failures += 1
        log.error("worker died; starting another", pid=pid, status=status)
        time.sleep(min(5.0, 0.2 * failures))
        children[_spawn(config, sock, workers, grace, index)] = index
    sock.close()
    return 0
