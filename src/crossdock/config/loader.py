"""`load_config`: from a path to a validated `Config`, or every problem at once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crossdock.config._checks import check_document
from crossdock.config._document import document_model
from crossdock.config._includes import include_mapping_files
from crossdock.config._paths import PathKey, render_path
from crossdock.config._problems import problems_from_errors
from crossdock.config._references import Resolver, resolve_references, unread
from crossdock.config._sources import Document, read_document
from crossdock.config._yaml import problem_at
from crossdock.config.model import Config
from crossdock.config.types import LoadContext
from crossdock.core.errors import ConfigError, ConfigProblem
from crossdock.core.plugins import load_transform_plugins

__all__ = ["load_config"]


def load_config(
    path: str | os.PathLike[str],
    *,
    resolve_secrets: bool = True,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load, validate and resolve the configuration at `path` (a YAML file or a folder).

    References (``${env:NAME}``, ``${file:PATH}``) are resolved now, from `env`
    (default: ``os.environ``) and from files relative to the configuration folder, so a
    missing secret is a load error. With ``resolve_secrets=False``, references in
    secret fields are checked but not read (each secret then holds its reference
    text); references in ordinary fields are still resolved.

    Raises `ConfigError` carrying every problem found (syntax, types, unknown keys,
    unresolvable references, unknown endpoint names, ...), sorted by file and line.
    No exception raised here carries a secret or a literal written in a secret field.
    """
    plugin_problems = [ConfigProblem("", problem) for problem in load_transform_plugins()]
    if plugin_problems:
        raise ConfigError(plugin_problems)
    document = read_document(Path(path))
    include_mapping_files(document)
    if document.data is None:
        raise ConfigError(sort_problems(document.problems))
    keep = set() if resolve_secrets else _secret_paths(document)
    lookup = Resolver(document.base_dir, os.environ if env is None else env)
    resolved = resolve_references(document.data, lookup, keep=keep)
    problems = [*document.problems, *_reference_problems(resolved.errors, document)]
    problems += check_document(resolved.data, document.entries)
    config, validation_problems = _validate(resolved.data, document)
    problems += validation_problems
    if problems or config is None:
        raise ConfigError(sort_problems(problems))
    return config


def sort_problems(problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
    """Unique problems by file, line and column; unlocated ones first."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file or "", p.line or 0, p.column or 0))


def _validate(data: Any, document: Document) -> tuple[Config | None, list[ConfigProblem]]:
    context = LoadContext(base_dir=document.base_dir)
    try:
        return document_model().model_validate(data, context=context), []
    except ValidationError as exc:
        # Only the error details are kept (without inputs): the exception, whose text
        # shows inputs, must not travel further or be chained.
        errors = exc.errors(include_url=False, include_input=False)
    return None, problems_from_errors(errors, data, document.entries)


def _secret_paths(document: Document) -> set[PathKey]:
    """Paths of the strings that secret fields consume, found by validating once with
    every reference left unread."""
    unresolved = resolve_references(document.data, unread)
    context = LoadContext(base_dir=document.base_dir, secret_inputs=set())
    with contextlib.suppress(ValidationError):  # reported by the real validation
        document_model().model_validate(unresolved.data, context=context)
    assert context.secret_inputs is not None
    origins = unresolved.origins
    return {origins[i] for i in context.secret_inputs if i in origins}


def _reference_problems(
    errors: Iterable[tuple[PathKey, str]], document: Document
) -> list[ConfigProblem]:
    problems = []
    for path, message in errors:
        entry = document.entries.get(path) or document.entries[()]
        problems.append(problem_at(render_path(path), message, entry.value))
    return problems
