"""How the http sink's failures map onto the delivery error tree.

```
DeliveryError
├── TransientError      network: refused, reset, timeout, malformed or cut answer
│                       answers: 408, 425, 429, 5xx (retry_after from Retry-After)
├── PermanentError
│   └── HttpRejected    answers: 3xx (redirects are not followed), other 4xx
│                       (carries the status and the masked, truncated body)
└── AuthError           answers: 401, 403; a token endpoint's 4xx
```
Lower-layer exceptions (`wire`, aiohttp, asyncio, OS) are mapped in one place, `network_errors`,
with the cause chained. Every message goes through the endpoint's `Redactor` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from crossdock.connectors.http.wire import InvalidRequest
from crossdock.core.errors import PermanentError, TransientError

__all__ = ["HttpRejected", "describe_answer", "network_errors", "shown_body"]


class HttpRejected(PermanentError):
    """The target refused the request for good (a 3xx or a 4xx other than 401, 403,
    408, 425, 429). ``body`` is the answer's start, secrets masked."""

    def __init__(self, message: str, *, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    def facts(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}


@contextmanager
def network_errors(action: str, redact: Callable[[str], str]) -> Iterator[None]:
    """Map what the connections, aiohttp, asyncio and the OS raise during ``action`` to
    TransientError (an invalid URL or header: PermanentError), chaining the cause."""
    try:
        yield
    except aiohttp.InvalidURL as exc:
        raise PermanentError(redact(f"{action}: invalid URL {exc}")) from exc
    except InvalidRequest as exc:
        raise PermanentError(redact(f"{action}: {exc}")) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransientError(redact(f"{action} failed: {_describe(exc)}")) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_answer(
    what: str, status: int, reason: str, body: bytes, limit: int, redact: Callable[[str], str]
) -> str:
    """``<what> answered <status> <reason>: <body>``, masked, the body cut to ``limit``."""
    full = redact(body.decode("utf-8", "replace"))
    shown = _cut(full, limit)
    if len(shown) < len(full):
        shown += " [truncated]"
    text = f"{what} answered {status} {reason}".rstrip()
    return redact(f"{text}: {shown}" if shown else text)


def shown_body(body: bytes, limit: int, redact: Callable[[str], str]) -> str:
    """The body as text, secrets masked, then cut to at most ``limit`` UTF-8 bytes.
    Masking comes first, so a secret across the cut is masked too."""
    return _cut(redact(body.decode("utf-8", "replace")), limit)


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode()[:limit].decode("utf-8", "ignore")
