"""Checks across the document that no single model can make.

They run on the document's data (not on a validated `Config`), so that their problems
are reported together with validation errors. Values of the wrong type are skipped
here: validation reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crossdock.config._paths import PathKey, render_path
from crossdock.config._yaml import Entry, problem_at
from crossdock.config.model import Target
from crossdock.config.types import format_duration, parse_duration
from crossdock.core.errors import ConfigProblem


def check_document(data: dict[str, Any], entries: dict[PathKey, Entry]) -> list[ConfigProblem]:
    """Every flow's sources and targets name defined endpoints; no target twice in a flow;
    each target's lease outlasts its endpoint's request timeout."""
    endpoints = data.get("endpoints", {})
    flows = data.get("flows")
    if not isinstance(endpoints, dict) or not isinstance(flows, dict):
        return []
    problems: list[ConfigProblem] = []

    def report(path: PathKey, message: str) -> None:
        position = entries[path].value if path in entries else entries[()].value
        problems.append(problem_at(render_path(path), message, position))

    for name, flow in flows.items():
        if not isinstance(flow, dict):
            continue
        for path, endpoint in _named_endpoints(("flows", name), flow):
            if endpoint not in endpoints:
                report(path, f'unknown endpoint "{endpoint}"; {_known(endpoints)}')
        for path, message in _repeated_targets(("flows", name), flow):
            report(path, message)
        for path, message in _short_leases(("flows", name), flow, endpoints):
            report(path, message)
    return problems


def _short_leases(
    path: PathKey, flow: dict[str, Any], endpoints: dict[str, Any]
) -> Iterator[tuple[PathKey, str]]:
    """A lease no longer than the endpoint's timeout could run out while its request is
    still in flight: the delivery would be handed out again and could overtake itself,
    or the next message of its key could go first."""
    targets = flow.get("targets")
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        name = target.get("endpoint") if isinstance(target, dict) else None
        endpoint = endpoints.get(name) if isinstance(name, str) else None
        settings = endpoint.get("settings") if isinstance(endpoint, dict) else None
        if not _http(endpoint) or not isinstance(settings, dict):
            continue
        try:
            lease = parse_duration(target.get("lease", Target.model_fields["lease"].default))
            timeout = parse_duration(settings.get("timeout", _HTTP_TIMEOUT))
        except ValueError:
            continue  # validation reports it
        if lease <= timeout:
            where = (*path, "targets", index, "lease" if "lease" in target else "endpoint")
            yield (
                where,
                (
                    f"the lease ({format_duration(lease)}) must be longer than endpoint"
                    f' "{target["endpoint"]}"\'s timeout ({format_duration(timeout)}): a request'
                    " still in flight when its lease runs out would be sent again, and the"
                    " key's order could break"
                ),
            )


def _http(endpoint: Any) -> bool:
    return isinstance(endpoint, dict) and endpoint.get("connector") == "http"


_HTTP_TIMEOUT = "10s"  # the http connector's default timeout (HttpSettings.timeout)


def _known(endpoints: dict[str, Any]) -> str:
    if not endpoints:
        return "no endpoints are defined"
    return "defined: " + ", ".join(sorted(endpoints))


def _named_endpoints(path: PathKey, flow: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    """(path, name) of every endpoint name a flow uses as a source or a target."""
    for key in ("sources", "source"):  # "source" is the shorthand of "sources"
        value = flow.get(key)
        if isinstance(value, str):
            yield (*path, key), value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield (*path, key, index), item
    yield from _targets(path, flow)


def _targets(path: PathKey, flow: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    targets = flow.get("targets")
    if not isinstance(targets, list):
        return
    for index, target in enumerate(targets):
        endpoint = target.get("endpoint") if isinstance(target, dict) else None
        if isinstance(endpoint, str):
            yield (*path, "targets", index, "endpoint"), endpoint


def _repeated_targets(path: PathKey, flow: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    first: dict[str, PathKey] = {}
    for target_path, endpoint in _targets(path, flow):
        if endpoint in first:
            where = render_path(first[endpoint][len(path) :][:-1])
            yield target_path, f'endpoint "{endpoint}" is already a target of this flow ({where})'
        else:
            first[endpoint] = target_path
