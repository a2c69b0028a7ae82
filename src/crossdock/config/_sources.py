"""Read a configuration path — one YAML file, or a folder of them — into one document.

A folder's ``*.yaml`` and ``*.yml`` files (not in subfolders, not hidden, not the test
cases ``*.test.yaml``) are read in name order and merged at the top level: the entries of
``endpoints`` and ``flows`` are gathered from every file; any other top-level key may
appear in one file only, except ``version``, which may be repeated with the same value.
A name or key defined twice is a problem that names both places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossdock.config._paths import PathKey, render_path
from crossdock.config._yaml import Entry, ParsedYaml, Position, parse_yaml, problem_at
from crossdock.core.errors import ConfigProblem

_COLLECTIONS = ("endpoints", "flows")
_SUFFIXES = (".yaml", ".yml")
_CASE_SUFFIXES = (".test.yaml", ".test.yml")  # test cases (see cases.py), not configuration


@dataclass
class Document:
    """Merged top-level data (None if unusable), positions, problems, and the folder
    that relative paths in the configuration are relative to."""

    data: dict[str, Any] | None
    base_dir: Path
    entries: dict[PathKey, Entry] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def read_document(path: Path) -> Document:
    """Read `path` (a file or a folder); never raises for a bad or missing path."""
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        return Document(None, path.parent, problems=[_whole(path, "no such file or folder")])
    parsed = _parse_top(path)
    return Document(parsed.data, path.parent, parsed.entries, parsed.problems)


def _whole(path: Path, message: str) -> ConfigProblem:
    return ConfigProblem("", message, str(path))


def _parse_top(path: Path) -> ParsedYaml:
    """Parse one file and require a mapping at its top level."""
    parsed = parse_yaml(path, str(path))
    if parsed.data is not None and not isinstance(parsed.data, dict):
        where = parsed.entries[()].value
        message = "the top level must be a mapping of keys (version, endpoints, flows, ...)"
        return ParsedYaml(None, problems=[*parsed.problems, problem_at("", message, where)])
    return parsed


def _read_folder(folder: Path) -> Document:
    try:
        files = sorted(
            p
            for p in folder.iterdir()
            if p.suffix in _SUFFIXES
            and not p.name.startswith(".")
            and not p.name.endswith(_CASE_SUFFIXES)
            and p.is_file()
        )
    except OSError as exc:
        return Document(None, folder, problems=[_whole(folder, f"cannot list: {exc.strerror}")])
    if not files:
        message = "no configuration files (*.yaml, *.yml) in this folder"
        return Document(None, folder, problems=[_whole(folder, message)])
    parsed = [_parse_top(file) for file in files]
    problems = [problem for p in parsed for problem in p.problems]
    if any(p.data is None for p in parsed):
        return Document(None, folder, problems=problems)
    document = Document({}, folder, {(): Entry(Position(str(folder)))}, problems)
    for part in parsed:
        _merge(document, part)
    return document


def _merge(document: Document, part: ParsedYaml) -> None:
    """Add one file's top-level keys to `document`, reporting what is defined twice."""
    assert document.data is not None
    for key, value in part.data.items():
        existing = document.data.get(key)
        if key in _COLLECTIONS and isinstance(value, dict) and isinstance(existing, dict | None):
            collection = document.data.setdefault(key, {})
            for name, item in value.items():
                _add(document, part, (key, name), collection, item)
        elif key == "version" and key in document.data and existing == value:
            continue
        else:
            _add(document, part, (key,), document.data, value)
    for path, entry in part.entries.items():
        document.entries.setdefault(path, entry)  # the first definition keeps its place


def _add(
    document: Document, part: ParsedYaml, path: PathKey, into: dict[str, Any], value: Any
) -> None:
    name = path[-1]
    assert isinstance(name, str)
    if name in into:
        message = f"already defined in {document.entries[path].anchor}"
        document.problems.append(problem_at(render_path(path), message, part.entries[path].anchor))
        return
    into[name] = value
