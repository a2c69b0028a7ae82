"""Disk reserve: room kept aside so that stored messages still deliver on a full disk.

When the store opens it writes a reserve file of ``size`` bytes next to the database.
When a commit fails because the disk is full, the reserve is released: its space goes
to the deliveries already stored (claims, acknowledgements and their journal need a few
pages each), while intake is refused until the file system has room for the reserve
twice over again, and the reserve is written anew.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

_CHUNK = 1 << 20


class DiskReserve:
    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._low = threading.Event()  # set: released; intake refused

    @property
    def low(self) -> bool:
        """True while the reserve is released (the disk filled up)."""
        return self._low.is_set()

    def ensure(self) -> bool:
        """Write the reserve if missing; False (no reserve) when there is no room for it."""
        if self.size <= 0:
            return False
        if self.path.exists() and self.path.stat().st_size >= self.size:
            return True
        try:
            with open(self.path, "wb") as out:
                left = self.size
                while left > 0:
                    left -= out.write(b"\0" * min(_CHUNK, left))
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            with contextlib.suppress(OSError):  # a read-only folder: there is nothing to undo
                self.path.unlink(missing_ok=True)
            return False
        return True

    def release(self) -> None:
        """The disk is full: free the reserve for the deliveries, refuse intake."""
        if self.size > 0:
            self._low.set()
            self.path.unlink(missing_ok=True)

    def recovered(self) -> bool:
        """Whether intake may accept again: not low, or room came back and the reserve is
        written anew."""
        if not self.low:
            return True
        stat = os.statvfs(self.path.parent)
        if stat.f_bavail * stat.f_frsize < 2 * self.size or not self.ensure():
            return False
        self._low.clear()
        return True
