"""References inside configuration strings: ``${env:NAME}`` and ``${file:PATH}``.

Grammar: ``${env:NAME}`` is the environment variable NAME (letters, digits, ``_``, not
starting with a digit); ``${file:PATH}`` is the text of the file PATH (relative paths are
relative to the configuration folder) without one trailing newline. ``$${`` writes a
literal ``${``. Any other ``${...}`` is an error.

A string that contained references is replaced by a `Resolved` string: it compares and
validates like its resolved text, but keeps the text the file said (`template`), so that
messages and `repr` show the reference and never the value it stood for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossdock.config._paths import PathKey

Lookup = Callable[[str, str], str]

_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
WHOLE_REFERENCE_PATTERN = rf"^\$\{{(env:{_ENV_NAME}|file:[^}}]+)\}}$"
_WHOLE = re.compile(WHOLE_REFERENCE_PATTERN)
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{[^}]*$")
_SYNTAX_HINT = "use ${env:NAME} or ${file:PATH}"


class Resolved(str):
    """A string produced from references; `template` is the text written in the file."""

    template: str

    def __new__(cls, value: str, template: str) -> Resolved:
        obj = super().__new__(cls, value)
        obj.template = template
        return obj

    def __repr__(self) -> str:
        return f"Resolved({self.template!r})"


class UnresolvedReference(Exception):
    """A reference that is malformed or cannot be read; the message names the reference."""


def source_text(value: str) -> str:
    """The text the configuration file said for `value` (the reference, not its value)."""
    return value.template if isinstance(value, Resolved) else value


def is_whole_reference(text: str) -> bool:
    """True if `text` is exactly one well-formed reference, nothing around it."""
    return _WHOLE.match(text) is not None


def substitute(text: str, lookup: Lookup) -> str:
    """Replace every reference in `text` by ``lookup(scheme, argument)``.

    Raises `UnresolvedReference` for a malformed reference or when `lookup` does.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        if match.group(1) is None:
            raise UnresolvedReference(f"unclosed reference {token}: {_SYNTAX_HINT}")
        scheme, _, argument = match.group(1).partition(":")
        if scheme == "env" and re.fullmatch(_ENV_NAME, argument):
            return lookup(scheme, argument)
        if scheme == "file" and argument:
            return lookup(scheme, argument)
        raise UnresolvedReference(f"invalid reference {token}: {_SYNTAX_HINT}")

    return _TOKEN.sub(replace, text)


class Resolver:
    """Reads references: environment variables from `env`, files relative to `base_dir`."""

    def __init__(self, base_dir: Path, env: Mapping[str, str]) -> None:
        self._base_dir = base_dir
        self._env = env

    def __call__(self, scheme: str, argument: str) -> str:
        reference = f"${{{scheme}:{argument}}}"
        if scheme == "env":
            if argument not in self._env:
                raise UnresolvedReference(f"{reference} is not set")
            return self._env[argument]
        return self._read_file(reference, self._base_dir / argument)

    @staticmethod
    def _read_file(reference: str, path: Path) -> str:
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise UnresolvedReference(f"cannot read {reference}: no such file") from None
        except UnicodeDecodeError:
            raise UnresolvedReference(f"cannot read {reference}: not UTF-8 text") from None
        except OSError as exc:
            raise UnresolvedReference(f"cannot read {reference}: {exc.strerror}") from None
        if text.endswith("\r\n"):
            return text[:-2]
        return text.removesuffix("\n")


def unread(scheme: str, argument: str) -> str:
    """A lookup that reads nothing: each reference stands for its own text."""
    return f"${{{scheme}:{argument}}}"


@dataclass
class ResolvedTree:
    """The result of `resolve_references`."""

    data: Any
    errors: list[tuple[PathKey, str]] = field(default_factory=list)
    origins: dict[int, PathKey] = field(default_factory=dict)  # id(Resolved) -> its path


def resolve_references(
    data: Any, lookup: Lookup, *, keep: Collection[PathKey] = ()
) -> ResolvedTree:
    """Copy `data`, replacing every string that holds a reference by a `Resolved` string.

    Strings at paths in `keep` are syntax-checked but not read. A reference that cannot
    be resolved leaves the string as written and adds ``(path, message)`` to `errors`.
    """
    tree = ResolvedTree(data=None)

    def walk(value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        text = source_text(value)
        try:
            result = Resolved(substitute(text, unread if path in keep else lookup), text)
        except UnresolvedReference as exc:
            tree.errors.append((path, str(exc)))
            result = Resolved(text, text)
        tree.origins[id(result)] = path
        return result

    tree.data = walk(data, ())
    return tree
