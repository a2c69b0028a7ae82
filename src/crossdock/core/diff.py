"""Differences between two JSON values, path by path, for test reports and replays.

    diff({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4})
    -> [Change("b.c", "changed", 2, 3), Change("d", "added", MISSING, 4)]

Objects are compared key by key and lists item by item (``items.0``); any other
difference, including a type change, is one `Change` at that path. ``1`` and ``1.0`` are
equal, ``1`` and ``true`` are not (JSON has no such equality).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from crossdock.core.envelope import JSON
from crossdock.core.paths import MISSING

Kind = Literal["changed", "added", "removed"]


@dataclass(frozen=True, slots=True)
class Change:
    """`before` is MISSING for an added path, `after` for a removed one."""

    path: str
    kind: Kind
    before: Any
    after: Any


def diff(before: JSON, after: JSON, *, subset: bool = False) -> list[Change]:
    """Every difference from `before` to `after`. With `subset`, paths that only `after`
    has are not differences (for "the output contains at least these fields")."""
    changes: list[Change] = []
    _walk(before, after, "", subset, changes)
    return changes


def _same(a: JSON, b: JSON) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _join(prefix: str, key: str | int) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _walk(a: JSON, b: JSON, path: str, subset: bool, out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key in b:
                _walk(value, b[key], _join(path, key), subset, out)
            else:
                out.append(Change(_join(path, key), "removed", value, MISSING))
        if not subset:
            for key, value in b.items():
                if key not in a:
                    out.append(Change(_join(path, key), "added", MISSING, value))
        return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            where = _join(path, index)
            if index >= len(b):
                out.append(Change(where, "removed", a[index], MISSING))
            elif index >= len(a):
                if not subset:
                    out.append(Change(where, "added", MISSING, b[index]))
            else:
                _walk(a[index], b[index], where, subset, out)
        return
    if not _same(a, b):
        out.append(Change(path or "(whole body)", "changed", a, b))
