"""Text templates with ``{path}`` placeholders, filled from a JSON body.

``"{ticket.number}: {ticket.title}"`` puts the values at those dotted paths into the
text. ``{{`` and ``}}`` write a literal brace. Nothing else is interpreted: no format
specifications, no attribute or index access beyond dotted paths, no conversions — the
template is parsed here once, never handed to `str.format`. An absent or null value
writes nothing; numbers and booleans are written as in JSON; an object or a list is an
error (use a transform such as ``join`` first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from crossdock.core.envelope import JSON
from crossdock.core.paths import MISSING, get_path, split_path

MAX_TEMPLATE = 10_000
"""Longest template text (characters)."""
MAX_OUTPUT = 1_000_000
"""Longest filled-in text (characters)."""


class TemplateError(ValueError):
    """A placeholder's value cannot be written as text; `reason` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal texts and placeholder paths, alternating."""

    text: str
    parts: tuple[str | tuple[str, ...], ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(".".join(p) for p in self.parts if isinstance(p, tuple))

    def render(self, body: JSON) -> str:
        out: list[str] = []
        size = 0
        for part in self.parts:
            piece = part if isinstance(part, str) else _text(get_path(body, part), part)
            size += len(piece)
            if size > MAX_OUTPUT:
                raise TemplateError(f"filled-in text longer than {MAX_OUTPUT} characters")
            out.append(piece)
        return "".join(out)


def _text(value: object, path: tuple[str, ...]) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    kind = "an object" if isinstance(value, dict) else "a list"
    raise TemplateError(f"placeholder {{{'.'.join(path)}}} is {kind}, not text")


def parse_template(text: str) -> Template:
    """Parse `text`; ValueError for an unclosed or empty placeholder or a stray brace."""
    if len(text) > MAX_TEMPLATE:
        raise ValueError(f"template longer than {MAX_TEMPLATE} characters")
    parts: list[str | tuple[str, ...]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
        elif char == "}":
            raise ValueError(f"stray '}}' at character {i + 1} (write '}}}}' for a brace)")
        elif char == "{":
            end = text.find("}", i + 1)
            path = text[i + 1 : end]
            if end < 0 or not _is_path(path):
                raise ValueError(
                    f"placeholder at character {i + 1} must be {{dotted.path}} "
                    "(write '{{' for a brace)"
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(split_path(path))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _is_path(path: str) -> bool:
    return bool(path) and all(
        part and not any(c.isspace() or c in "{}" for c in part) for part in path.split(".")
    )
