"""Masking of sensitive fields in payloads shown or kept by the journal."""

from __future__ import annotations

from collections.abc import Iterable

from crossdock.core.envelope import JSON

MASK = "***"


class Masker:
    """Replaces the value of every object field whose name is in ``fields``, at any depth.

    Names compare case-insensitively. With no fields, payloads pass through untouched.
    """

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self._fields = frozenset(f.lower() for f in fields)

    def __call__(self, value: JSON) -> JSON:
        if not self._fields:
            return value
        return self._mask(value)

    def _mask(self, value: JSON) -> JSON:
        if isinstance(value, dict):
            return {
                k: MASK if k.lower() in self._fields else self._mask(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        return value
