"""The Backend contract suite: every test here runs unchanged against each backend.

To put another backend under the contract, add one `BackendKind` to `BACKENDS`. Its
``open(directory, clock, mask=...)`` must open the store kept for ``directory`` (calling
it again with the same directory reopens the same store: that is how the durability
tests "restart"), and read the time only from ``clock`` (epoch seconds).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from backend_kit import BackendKind, Clock, FakeClock, SmallStorage, Stores

from crossdock.bus.base import Backend
from crossdock.bus.sqlite.backend import SqliteBackend

# --- SQLite -----------------------------------------------------------------------------


async def _open_sqlite(directory: Path, clock: Clock, *, mask: Sequence[str] = ()) -> Backend:
    return await SqliteBackend.open(directory / "crossdock.db", clock=clock, mask=list(mask))


class _TmpfsStorage:
    """A tiny tmpfs: a real file system that really fills up (needs root, as here)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._filler = directory / "filler"

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        assert os.statvfs(self.directory).f_bavail == 0

    def free(self) -> None:
        self._filler.unlink()

    def check(self) -> None:
        with contextlib.closing(sqlite3.connect(self.directory / "crossdock.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@contextlib.contextmanager
def _small_tmpfs(directory: Path) -> Iterator[SmallStorage]:
    directory.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip()}")
    try:
        yield _TmpfsStorage(directory)
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


SQLITE = BackendKind("sqlite", _open_sqlite, _small_tmpfs)

BACKENDS: list[BackendKind] = [SQLITE]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS, ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> BackendKind:
    kind: BackendKind = request.param
    return kind


@pytest.fixture
async def stores(kind: BackendKind, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stores]:
    opened = Stores(kind, tmp_path / "store", clock)
    opened.directory.mkdir()
    yield opened
    await opened.close_all()


@pytest.fixture
async def backend(stores: Stores) -> Backend:
    return await stores.open()
