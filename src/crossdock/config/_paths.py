"""Key paths: tuples of mapping keys and list indexes, rendered as ``a.b[1].c``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

PathKey = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def render_path(path: Iterable[str | int]) -> str:
    """``("flows", "orders", "targets", 1)`` -> ``flows.orders.targets[1]``.

    Keys that are not plain words are quoted: ``headers["X-Api.Key"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out
