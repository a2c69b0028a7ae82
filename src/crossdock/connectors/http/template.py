"""URL templates: ``/orders/{body.order.id}`` filled from one delivery's message.

The template is the endpoint's ``path`` (validated by `HttpSettings`); placeholders are
``{key}``, ``{id}``, ``{flow}``, ``{event_type}`` and ``{body.<dotted path>}`` (into the
delivery payload). Each value is percent-encoded as *one* path segment (or one query
value, after the template's ``?``): every character but ``A-Z a-z 0-9 - . _ ~`` is
encoded, so no message can add a ``/``, ``?`` or ``#``, or name another scheme, host or
port. A path segment that would be ``.`` or ``..`` is refused (`PermanentError`): servers
resolve those, even percent-encoded, and could climb out of the configured path. Scheme,
host and port come from ``base_url`` alone, and every URL built is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from yarl import URL

from crossdock.bus.base import Delivery
from crossdock.config.connectors import PATH_FIELDS, PATH_PLACEHOLDER
from crossdock.core.envelope import JSON
from crossdock.core.errors import PermanentError
from crossdock.core.paths import MISSING, get_path, split_path

__all__ = ["UrlTemplate"]


@dataclass(frozen=True, slots=True)
class _Placeholder:
    name: str  # as written: "key", "body.order.id"
    in_query: bool


class UrlTemplate:
    """``base_url`` + ``path`` template; `render` gives the URL of one delivery."""

    def __init__(self, base_url: str, path: str) -> None:
        self._base = URL(base_url)  # normalised and quoted once; the origin to keep
        self._prefix = str(self._base).rstrip("/")
        self._parts = _parse(path)
        self._fixed: URL | None = None  # a path without placeholders: the URL, once built

    @property
    def origin(self) -> URL:
        """Scheme, host and port every rendered URL has."""
        return self._base.origin()

    def render(self, delivery: Delivery) -> URL:
        """The URL for ``delivery``; PermanentError if a placeholder has no value."""
        if self._fixed is not None:
            return self._fixed
        url = self._build(delivery)
        if all(isinstance(part, str) for part in self._parts):
            self._fixed = url
        return url

    def _build(self, delivery: Delivery) -> URL:
        pieces: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            text = _value(part, delivery)
            if not part.in_query and text in (".", ".."):
                raise PermanentError(f"URL placeholder {{{part.name}}} is {text!r}: a path step")
            pieces.append(quote(text, safe=""))
        path = "".join(pieces)
        if any(unquote(step) in (".", "..") for step in path.partition("?")[0].split("/")):
            raise PermanentError(f"refused URL path {path}: it has a '.' or '..' segment")
        url = URL(self._prefix + path, encoded=True)
        if url.origin() != self.origin or url.raw_user is not None:  # defence in depth
            raise PermanentError(f"refused URL {url}: not on {self.origin}")
        return url


def _parse(path: str) -> list[str | _Placeholder]:
    parts: list[str | _Placeholder] = []
    in_query, at = False, 0
    for match in PATH_PLACEHOLDER.finditer(path):
        literal = path[at : match.start()]
        in_query = in_query or "?" in literal
        parts.append(literal)
        name = match.group(1)
        if name not in PATH_FIELDS and not name.startswith("body."):
            raise ValueError(f"unknown placeholder {{{name}}} in path {path!r}")
        parts.append(_Placeholder(name, in_query))
        at = match.end()
    parts.append(path[at:])
    return [p for p in parts if p != ""]


def _value(placeholder: _Placeholder, delivery: Delivery) -> str:
    """The placeholder's text, or PermanentError naming it."""
    name = placeholder.name
    value: JSON = (
        get_path(delivery.payload, split_path(name.removeprefix("body.")))
        if name.startswith("body.")
        else getattr(delivery.message, name)  # PATH_FIELDS are Message attributes
    )
    if value is MISSING or value is None or value == "":
        raise PermanentError(f"URL placeholder {{{name}}} has no value in this message")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise PermanentError(f"URL placeholder {{{name}}} is {kind}, not one value")
    return str(value)
