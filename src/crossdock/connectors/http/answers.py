"""What a target answered, and the pure helpers that read it.

- `Answer`: one HTTP answer, body read, as `HttpSink.classify` sees it.
- `parse_retry_after`: the ``Retry-After`` header as seconds (both of its forms).
- `find_response_id`: the record id at a dotted path of a JSON answer.
- `Redactor`: replaces every secret of an endpoint in a text, in the forms it may be
  echoed back in (raw, JSON-escaped, percent-encoded, inside Basic credentials).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import orjson

from crossdock.core.masking import MASK
from crossdock.core.paths import MISSING, get_path, split_path

__all__ = [
    "MAX_RETRY_AFTER",
    "Answer",
    "Redactor",
    "find_response_id",
    "parse_retry_after",
]

MAX_RETRY_AFTER = 3600.0
"""Longest wait taken from a ``Retry-After`` header, in seconds."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the target to one request."""

    method: str
    url: str
    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
    body: bytes
    token_refreshed: bool = False  # a 401 made the sink fetch a new OAuth token and resend


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delay-seconds or an HTTP date.

    Capped at `MAX_RETRY_AFTER`; a date in the past is 0; anything unreadable is None.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP date is always GMT
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def find_response_id(body: bytes, path: str) -> tuple[str | None, str | None]:
    """``(id, None)`` for a string or number at ``path`` in a JSON body, else
    ``(None, why)``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, "answer is not JSON" if body.strip() else "answer is empty"
    value = get_path(document, split_path(path))
    if value is MISSING or value is None:
        return None, f"answer has no {path}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"{path} in the answer is not a string or number"
    return str(value), None


class Redactor:
    """Replaces secrets in texts with ``***``.

    Static secrets are given at construction; `add` registers one learnt later (an OAuth
    access token). Only the most recent ``keep`` added ones are kept.
    """

    def __init__(self, secrets: Iterable[str] = (), *, keep: int = 4) -> None:
        self._static = _forms(secrets)
        self._added: list[str] = []
        self._keep = keep
        self._all = self._static

    def add(self, secret: str) -> None:
        if secret and secret not in self._added:
            self._added = [*self._added, secret][-self._keep :]
            self._all = sorted({*self._static, *_forms(self._added)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._all:
            text = text.replace(form, MASK)
        return text


def _forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as it may appear in an echo, longest first (so no part survives)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            json_escaped = orjson.dumps(secret).decode()[1:-1]
            forms.update({secret, json_escaped, quote(secret, safe=""), quote_plus(secret)})
    return sorted(forms, key=len, reverse=True)
