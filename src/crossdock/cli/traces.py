"""How the CLI shows mapping traces, flow outcomes and differences between bodies."""

from __future__ import annotations

from typing import Any

import orjson
from rich.markup import escape

from crossdock.cli.common import out
from crossdock.core.diff import Change
from crossdock.core.envelope import JSON
from crossdock.core.paths import MISSING
from crossdock.core.rules import FieldTrace
from crossdock.runtime.preview import FlowPreview, Stage

_SHOWN = 60  # characters of a value shown in a trace step or a difference
_READS = {"read", "value", "each"}  # steps shown as the value alone


def preview_dict(result: FlowPreview) -> dict[str, Any]:
    return {
        "flow": result.flow,
        "source": result.source,
        "to_canonical": None if result.inbound is None else _stage_dict(result.inbound),
        "filtered": result.filtered,
        "error": result.error,
        "targets": [
            {
                "endpoint": t.endpoint,
                "output": t.output,
                "error": t.error,
                "stages": [_stage_dict(stage) for stage in t.stages],
            }
            for t in result.targets
        ],
    }


def _stage_dict(stage: Stage) -> dict[str, Any]:
    return {
        "stage": stage.name,
        "output": stage.trace.output,
        "fields": [_field_dict(f) for f in stage.trace.fields],
    }


def _field_dict(f: FieldTrace) -> dict[str, Any]:
    return {
        "field": f.field,
        "origin": f.origin,
        "outcome": f.outcome,
        "result": f.result,
        "steps": [[label, value] for label, value in f.steps],
        "error": f.error,
    }


def print_preview(result: FlowPreview) -> None:
    if result.inbound is not None:
        _print_stage(result.inbound)
    if result.failed is not None:
        out.print(f"[bold red]parked:[/] {escape(result.failed)}")
        return
    if result.filtered is not None:
        out.print(f"flow {escape(result.flow)}: [dim]filtered[/] ({escape(result.filtered)})")
        return
    for t in result.targets:
        for stage in t.stages:
            _print_stage(stage)
        if t.error is not None:
            out.print(f"[bold red]parked:[/] {escape(t.error)}")
        else:
            body = orjson.dumps(t.output, option=orjson.OPT_INDENT_2).decode()
            out.print(escape(body))


def _print_stage(stage: Stage) -> None:
    out.print(f"[bold]{escape(stage.name)}[/]")
    width = max((len(f.field) for f in stage.trace.fields), default=0)
    for f in stage.trace.fields:
        out.print(f"  {escape(f.field.ljust(width))}  {escape(describe(f))}")


def describe(f: FieldTrace) -> str:
    """``order.tier → " Gold " → trim "Gold" → map "high"``, or why the field is not set."""
    parts = [f.origin]
    before: JSON = ...  # nothing shown yet
    for label, value in f.steps:
        if label == "skipped" or (value is None and before is None):
            continue  # null passes through transforms untouched: shown once
        parts.append(shown(value) if label in _READS else f"{label} {shown(value)}")
        before = value
    text = " → ".join(parts)
    if f.outcome == "skipped":
        text += f"  (skipped: {f.steps[0][1]})"
    elif f.outcome == "left out":
        text += "  (left out: null)"
    elif f.outcome == "absent":
        text += "  (absent in the source)"
    elif f.outcome == "failed":
        text += f"  FAILED: {f.error}"
    return text


def shown(value: JSON) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def describe_change(change: Change) -> str:
    if change.after is MISSING:
        return f"{change.path}: missing (expected {shown(change.before)})"
    if change.before is MISSING:
        return f"{change.path}: not expected (got {shown(change.after)})"
    return f"{change.path}: {shown(change.before)} → {shown(change.after)}"


def change_dict(c: Change) -> dict[str, Any]:
    """A change for JSON output: absent sides are null, `kind` says which."""
    return {
        "path": c.path,
        "kind": c.kind,
        "before": None if c.before is MISSING else c.before,
        "after": None if c.after is MISSING else c.after,
    }


def print_changes(changes: dict[str, list[Change]], heading: str, indent: str) -> None:
    """Per target with differences: ``target T: <heading>``, then one line per change."""
    for target, found in changes.items():
        if found:
            out.print(f"{indent}target {escape(target)}: {heading}")
            for change in found:
                out.print(f"{indent}  {escape(describe_change(change))}")
