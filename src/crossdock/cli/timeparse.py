"""Time arguments of the CLI: ``24h`` / ``30m`` / ``7d`` ago, or an ISO-8601 instant."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


def parse_instant(text: str, *, now: float | None = None) -> float:
    """Epoch seconds for ``text``: a span back from now (``24h``) or an ISO-8601 time.

    An ISO time without a zone is taken as UTC. Raises ValueError with a readable message.
    """
    text = text.strip()
    match = _AGO.match(text)
    if match:
        ago = float(match.group(1)) * _UNITS[match.group(2)]
        return (time.time() if now is None else now) - ago
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span like 30m, 24h, 7d nor an ISO-8601 time"
            " like 2026-11-23T08:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_instant(epoch: float) -> str:
    """UTC, to the millisecond: 2026-11-23T08:00:00.123Z."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"
