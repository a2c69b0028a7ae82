"""A store the hub cannot open: one clear line and exit 1, never a traceback; commands that
only read still read a store in a read-only folder.

A read-only folder is a read-only bind mount made in a mount namespace of the command's
own (``unshare -m``): root ignores file permissions, so they cannot make one. Where that
is not possible the tests that need it are skipped; the errors of a folder that cannot be
created (a path under a regular file) are tested everywhere.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_kit import HOST, feed_config, free_port

from crossdock.bus import SqliteBackend
from crossdock.core.envelope import Message

_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'


@functools.cache
def _read_only_mounts() -> str | None:
    """Why read-only bind mounts cannot be made here; None when they can."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"crossdock-ro-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", _READ_ONLY, "sh", str(probe), "touch", f"{probe}/x"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if "Read-only file system" not in done.stderr:
        return f"cannot make a read-only bind mount (needs root and unshare -m): {done.stderr}"
    return None


def crossdock(*args: str, read_only: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``crossdock ARGS``; with ``read_only``, that folder is read-only for the command."""
    command = [sys.executable, "-m", "crossdock", *args]
    if read_only is not None:
        reason = _read_only_mounts()
        if reason is not None:
            pytest.skip(reason)
        command = ["unshare", "-m", "sh", "-c", _READ_ONLY, "sh", str(read_only), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed (exit 1, no traceback)."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def seed(store: Path, count: int) -> list[str]:
    """``count`` messages waiting in the store (closed cleanly: no -wal file remains)."""

    async def enqueue() -> list[str]:
        backend = await SqliteBackend.open(store)
        try:
            ids = []
            for n in range(count):
                message = Message.new(flow="stream", source="feed", event_type="e", body={"n": n})
                ids.append((await backend.enqueue(message, "sink")).message_id)
            return ids
        finally:
            await backend.close()

    return asyncio.run(enqueue())


def config(folder: Path, store: str) -> Path:
    path = feed_config(folder, free_port(), f"http://{HOST}:9")
    path.write_text(path.read_text().replace("path: hub.db", f"path: {store}"))
    return path


@pytest.mark.parametrize("existing", [False, True], ids=["empty folder", "existing store"])
def test_run_in_a_read_only_folder(tmp_path: Path, existing: bool) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if existing:
        seed(data / "hub.db", 1)
    line = one_error(crossdock("run", str(config(tmp_path, str(data / "hub.db"))), read_only=data))
    assert line.startswith(f"error: cannot open the store {data / 'hub.db'}: read-only file system")


def test_read_commands_read_a_store_in_a_read_only_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = seed(data / "hub.db", 3)
    assert not (data / "hub.db-wal").exists()
    store = ["--store", str(data / "hub.db")]
    before = sorted(os.listdir(data))

    status = crossdock("status", *store, read_only=data)
    assert status.returncode == 0, status.stderr
    assert "stream" in status.stdout and "sink" in status.stdout
    listed = crossdock("messages", "list", *store, read_only=data)
    assert listed.returncode == 0, listed.stderr
    assert all(i in listed.stdout for i in ids), listed.stdout
    shown = crossdock("messages", "show", ids[0], *store, read_only=data)
    assert shown.returncode == 0, shown.stderr
    assert ids[0] in shown.stdout

    # a command that writes says why it cannot
    line = one_error(crossdock("replay", "--flow", "stream", *store, read_only=data))
    assert line.startswith("error: "), line
    assert sorted(os.listdir(data)) == before, "nothing created beside the store"


def test_read_commands_read_the_wal_of_a_hub_that_crashed(tmp_path: Path) -> None:
    """A hub killed before it could checkpoint leaves its last commits in the -wal file:
    a read in a read-only folder sees them too."""
    data = tmp_path / "data"
    ids = seed(data / "hub.db", 1)
    crashed = (
        "import asyncio, os, sys\n"
        "from crossdock.bus import SqliteBackend\n"
        "from crossdock.core.envelope import Message\n"
        "async def main():\n"
        "    b = await SqliteBackend.open(sys.argv[1])\n"
        "    m = Message.new(flow='stream', source='feed', event_type='e', body={})\n"
        "    print((await b.enqueue(m, 'sink')).message_id, flush=True)\n"
        "    os._exit(0)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", crashed, str(data / "hub.db")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ids.append(done.stdout.strip())
    assert (data / "hub.db-wal").stat().st_size > 0

    listed = crossdock("messages", "list", "--store", str(data / "hub.db"), read_only=data)
    assert listed.returncode == 0, listed.stderr
    assert all(i in listed.stdout for i in ids), listed.stdout


def test_a_store_folder_that_cannot_be_created(tmp_path: Path) -> None:
    """A store path under a regular file: the folder cannot be made (ENOTDIR, ENOENT)."""
    plain = tmp_path / "plain"
    plain.write_text("not a folder")
    line = one_error(crossdock("run", str(config(tmp_path, f"{plain}/sub/hub.db"))))
    assert line == (
        f"error: cannot open the store {plain}/sub/hub.db: cannot create its folder: "
        f"not a directory ({plain}/sub)"
    )
    line = one_error(crossdock("run", str(config(tmp_path, f"{plain}/hub.db"))))
    assert line == f"error: cannot open the store {plain}/hub.db: {plain} is not a folder"


def test_status_on_a_store_that_cannot_be_read(tmp_path: Path) -> None:
    """A store file that is no database: one line, exit 1, also for commands that read."""
    store = tmp_path / "hub.db"
    store.write_bytes(b"this is not an SQLite database, not even its header" * 100)
    line = one_error(crossdock("status", "--store", str(store)))
    assert line.startswith(f"error: cannot open the store {store}: "), line
