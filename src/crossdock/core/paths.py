"""Dotted paths into JSON bodies: ``order.id``, ``items.0.sku``."""

from __future__ import annotations

from typing import Final

from crossdock.core.envelope import JSON


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What `get_path` returns when the path leads nowhere (distinct from a JSON null)."""


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def get_path(value: JSON, parts: tuple[str, ...]) -> JSON | _Missing:
    """The value at ``parts``; list items by index (``items.0``); `MISSING` if absent."""
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
            if value is MISSING:
                return MISSING
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def set_path(target: dict[str, JSON], parts: tuple[str, ...], value: JSON) -> None:
    """Set ``value`` at ``parts`` in ``target``, creating objects on the way."""
    if len(parts) == 1:  # most fields are at the top level
        target[parts[0]] = value
        return
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
