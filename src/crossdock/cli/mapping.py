"""``crossdock map test`` (one sample through a flow, with every field's trace) and
``crossdock map replay`` (recorded messages through a new configuration)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.markup import escape

from crossdock.bus import Backend, MessageQuery
from crossdock.cli.common import (
    ConfigOption,
    JsonOption,
    StoreOption,
    fail,
    out,
    print_json,
    read_config,
    store_path,
    with_backend,
)
from crossdock.cli.timeparse import format_instant, parse_instant
from crossdock.core.envelope import JSON

if TYPE_CHECKING:  # imported where used: `crossdock --help` need not load the mapping engine
    from crossdock.runtime.plan import FlowPlan, Plan
    from crossdock.runtime.replay import Comparison, Summary

mapping = typer.Typer(help="Try mappings offline: samples and recorded messages.")


def flow_plan(plan: Plan, flow: str) -> FlowPlan:
    found = plan.flows.get(flow)
    if found is None:
        known = ", ".join(sorted(plan.flows)) or "none"
        raise fail(f"no flow {flow!r} in the configuration (flows: {known})")
    return found


def read_sample(path: Path) -> JSON:
    """A JSON body from a file, or from standard input for ``-``."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise fail(f"{path} is not JSON: {exc}") from None


@mapping.command("test")
def map_test(
    flow: Annotated[str, typer.Argument(help="The flow to run the sample through.")],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="The sample body, a JSON file (- for stdin).")
    ],
    target: Annotated[
        str | None, typer.Option(help="Only this target endpoint (default: every route).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="The source endpoint the sample comes from (default: the first)."),
    ] = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Map a sample as the flow would: the source's to_canonical, the flow's conditions and
    routes, each target's mapping and from_canonical, with a trace of every field.

    Exit status: 0 when mapped or filtered, 1 when a condition or mapping fails.
    """
    from crossdock.cli.traces import preview_dict, print_preview
    from crossdock.runtime.plan import Plan
    from crossdock.runtime.preview import preview

    plan = flow_plan(Plan.from_config(read_config(config)), flow)
    if target is not None and all(r.endpoint != target for r in plan.routes):
        known = ", ".join(r.endpoint for r in plan.routes)
        raise fail(f"flow {flow} has no target {target!r} (targets: {known})")
    if source is not None and source not in plan.sources:
        raise fail(f"flow {flow} has no source {source!r} (sources: {', '.join(plan.sources)})")
    result = preview(plan, read_sample(input_path), source=source, target=target)
    if json:
        print_json(preview_dict(result))
    else:
        print_preview(result)
    if result.error is not None:
        raise typer.Exit(1)


@mapping.command("replay")
def map_replay(
    flow: Annotated[str, typer.Option(help="The flow whose recorded messages to replay.")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The new configuration (file or folder).")
    ],
    since: Annotated[
        str, typer.Option(help="Received since: 30m, 24h, 7d or an ISO-8601 time.")
    ] = "24h",
    until: Annotated[str | None, typer.Option(help="Received before (same forms).")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=100_000, help="At most this many messages, newest first.")
    ] = 1000,
    show: Annotated[
        int, typer.Option(min=0, help="Show the differences of at most this many messages.")
    ] = 20,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """Run recorded messages through a new version of the mappings and show, per message,
    what the targets would receive differently, then a summary. Nothing is sent or
    written; the store is the new configuration's (or --store).

    Exit status: 0, whatever changed; 1 when the configuration or store cannot be read.
    """
    from crossdock.runtime.plan import Plan
    from crossdock.runtime.replay import Summary, compare

    plan = flow_plan(Plan.from_config(read_config(config)), flow)
    query = MessageQuery(
        flow=flow,
        since=_instant(since, "--since"),
        until=None if until is None else _instant(until, "--until"),
        limit=limit,
    )

    async def journeys(backend: Backend) -> list[Comparison]:
        found = await backend.find_messages(query)
        compared = []
        for summary in reversed(found):  # oldest first
            journey = await backend.journey(summary.id)
            if journey is not None:
                compared.append(compare(journey, plan))
        return compared

    comparisons = with_backend(store_path(config, store), journeys, read_only=True)
    summary = Summary()
    for c in comparisons:
        summary.add(c)
    if json:
        print_json(
            {
                "summary": _summary_dict(summary),
                "messages": [_comparison_dict(c) for c in comparisons if c.changed],
            }
        )
        return
    shown_count = 0
    for c in comparisons:
        if c.changed and shown_count < show:
            _print_comparison(c)
            shown_count += 1
    _print_summary(summary, shown_count)


def _instant(text: str, option: str) -> float:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _print_comparison(c: Comparison) -> None:
    from crossdock.cli.traces import print_changes

    out.print(f"[bold]{c.message_id}[/]  received {format_instant(c.received_at)}")
    if c.outcome is not None:
        out.print(f"  was {escape(c.outcome[0])}")
        out.print(f"  now {escape(c.outcome[1])}")
    for target in c.gained:
        out.print(f"  target {escape(target)} would now receive it")
    for target in c.lost:
        out.print(f"  target {escape(target)} would no longer receive it")
    print_changes(c.changes, "recorded → new", "  ")


def _print_summary(s: Summary, shown_count: int) -> None:
    if s.examined == 0:
        out.print("no recorded messages of this flow in that time")
        return
    out.print(
        f"{s.examined} message{'s' if s.examined != 1 else ''} replayed: "
        f"{s.changed} would change, {s.examined - s.changed} would not"
        + (f" (differences of {shown_count} shown)" if shown_count < s.changed else "")
    )
    if s.failing:
        out.print(f"[bold red]{s.failing} would be parked by a mapping error[/]")
    if s.incomparable:
        out.print(
            f"{s.incomparable} without a recorded body to compare with (not processed yet, "
            "or journal.keep_payloads was off)"
        )
    for title, counter in (
        ("outcomes", s.outcomes),
        ("fields", s.fields),
        ("targets gained", s.gained),
        ("targets lost", s.lost),
    ):
        if counter:
            out.print(f"{title}:")
            for name, count in counter.most_common():
                out.print(f"  {escape(name)}: {count} message{'s' if count != 1 else ''}")


def _summary_dict(s: Summary) -> dict[str, Any]:
    return {
        "examined": s.examined,
        "changed": s.changed,
        "unchanged": s.examined - s.changed,
        "failing": s.failing,
        "incomparable": s.incomparable,
        "outcomes": dict(s.outcomes),
        "fields": dict(s.fields),
        "gained": dict(s.gained),
        "lost": dict(s.lost),
    }


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    from crossdock.cli.traces import change_dict

    return {
        "message_id": c.message_id,
        "received_at": c.received_at,
        "was": None if c.outcome is None else c.outcome[0],
        "now": None if c.outcome is None else c.outcome[1],
        "gained": list(c.gained),
        "lost": list(c.lost),
        "changes": {t: [change_dict(x) for x in ch] for t, ch in c.changes.items() if ch},
    }


def register(app: typer.Typer) -> None:
    app.add_typer(mapping, name="map")
