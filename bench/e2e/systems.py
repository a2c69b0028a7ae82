"""The systems under test and how each one is started, on a free loopback port.

Every system is started in a session of its own (so a SIGKILL can take its whole process
group), writes its output to a log file in its folder, and is ready when ``GET /readyz``
answers 200.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nodered
import yaml
from common import HERE, HOOK_PATH, MAPPING, TARGET_PATH, child_env, free_port, stop, wait_ready


@dataclass(frozen=True, slots=True)
class System:
    kind: str  # crossdock | naive-asgi | naive-aiohttp | durable | durable-shared | node-red
    processes: int

    @property
    def label(self) -> str:
        if self.kind == "crossdock":
            return "crossdock" + (f" --workers {self.processes}" if self.processes > 1 else "")
        if self.kind == "node-red":
            return f"Node-RED {nodered.VERSION}"
        if self.kind.startswith("durable"):
            shared = ", one file" if self.kind == "durable-shared" else ""
            return "durable floor" + (f" x{self.processes}" if self.processes > 1 else "") + shared
        server = self.kind.removeprefix("naive-")
        return f"naive ({server})" + (f" x{self.processes}" if self.processes > 1 else "")

    @property
    def family(self) -> str:
        return self.kind.split("-")[0] if self.kind.startswith(("naive", "durable")) else self.kind


@dataclass(slots=True)
class Running:
    system: System
    proc: subprocess.Popen[bytes]
    url: str  # the webhook URL
    log: Path
    ready_seconds: float = 0.0


def crossdock_config(port: int, target_port: int, concurrency: int) -> dict[str, object]:
    """The flow as crossdock configuration: default store, journal and server settings."""
    return {
        "version": 1,
        "store": {"path": "crossdock.db"},
        "server": {"host": "127.0.0.1", "port": port},
        "endpoints": {
            "shop": {"connector": "webhook", "description": "bench load generator"},
            "target": {
                "connector": "http",
                "description": "bench target",
                "settings": {
                    "base_url": f"http://127.0.0.1:{target_port}",
                    "path": TARGET_PATH,
                    "concurrency": concurrency,
                },
            },
        },
        "flows": {
            "orders": {
                "source": "shop",
                "key": "order.id",
                "targets": [{"endpoint": "target", "mapping": MAPPING}],
            }
        },
    }


def command(
    system: System, folder: Path, port: int, target_port: int, concurrency: int
) -> list[str]:
    if system.kind == "crossdock":
        config = folder / "crossdock.yaml"
        config.write_text(yaml.safe_dump(crossdock_config(port, target_port, concurrency)))
        return [
            sys.executable,
            "-m",
            "crossdock",
            "run",
            str(config),
            "--workers",
            str(system.processes),
        ]
    if system.kind.startswith(("naive-", "durable")):
        durable = []
        if system.family == "durable":
            durable = ["--durable", str(folder / "orders.db")]
            durable += ["--shared"] if system.kind == "durable-shared" else []
        return [
            sys.executable,
            str(HERE / "naive.py"),
            "--port",
            str(port),
            "--target",
            f"http://127.0.0.1:{target_port}{TARGET_PATH}",
            "--server",
            "asgi" if durable else system.kind.removeprefix("naive-"),
            "--processes",
            str(system.processes),
            "--workers",
            str(concurrency),
            *durable,
        ]
    raise ValueError(system.kind)


def start(system: System, folder: Path, target_port: int, concurrency: int) -> Running:
    """Start ``system`` delivering to the target; return once it is ready."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "output.log"
    if system.kind == "node-red":
        nodered.write_user_dir(folder, port, target_port)
        proc = nodered.popen(folder, log)
    else:
        argv = command(system, folder, port, target_port, concurrency)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )
    running = Running(system, proc, f"http://127.0.0.1:{port}{HOOK_PATH}", log)
    try:
        running.ready_seconds = wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    except RuntimeError:
        stop(proc)
        raise
    return running
