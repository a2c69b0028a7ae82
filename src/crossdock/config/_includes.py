"""Mapping files: ``mapping: mappings/zendesk.yaml`` on an endpoint reads that file.

A system is mapped once, to and from the canonical model, usually in a file of its own
(``to_canonical``, ``from_canonical``, ``lossless``; see examples/mappings/). Before
validation, every endpoint whose ``mapping`` is a string has it replaced by the file's
content, and the positions of that file's keys are added under the endpoint's
``mapping`` path, so a problem inside the file is reported at its own file and line.
Paths are relative to the configuration's folder.
"""

from __future__ import annotations

from pathlib import Path

from crossdock.config._paths import PathKey, render_path
from crossdock.config._sources import Document
from crossdock.config._yaml import parse_yaml, problem_at

_MAX_BYTES = 4 * 1024 * 1024


def include_mapping_files(document: Document) -> None:
    """Replace each endpoint's ``mapping: FILE`` by the file's content, in place."""
    endpoints = (document.data or {}).get("endpoints")
    if not isinstance(endpoints, dict):
        return
    for name, endpoint in endpoints.items():
        if isinstance(endpoint, dict) and isinstance(endpoint.get("mapping"), str):
            _include(document, ("endpoints", name, "mapping"), endpoint)


def _include(document: Document, at: PathKey, endpoint: dict[str, object]) -> None:
    reference = str(endpoint["mapping"])
    where = document.entries[at].value
    path = document.base_dir / reference

    def refuse(message: str) -> None:
        document.problems.append(problem_at(render_path(at), message, where))
        endpoint["mapping"] = {}

    if not _is_file(path):
        return refuse(f"mapping file {reference} is not a file")
    if path.stat().st_size > _MAX_BYTES:
        return refuse(f"mapping file {reference} is larger than 4 MiB")
    parsed = parse_yaml(path, str(path))
    document.problems += parsed.problems
    if parsed.data is None:
        endpoint["mapping"] = {}
        return None
    if not isinstance(parsed.data, dict):
        return refuse(
            f"mapping file {reference} must hold a mapping (to_canonical, from_canonical, ...)"
        )
    endpoint["mapping"] = parsed.data
    for key, entry in parsed.entries.items():
        if key:
            document.entries[at + key] = entry
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False
