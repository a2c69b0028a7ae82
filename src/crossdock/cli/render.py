"""How the CLI shows statistics, messages and journeys: Rich for people, dicts for JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from crossdock.bus import Journey, MessageSummary, QueueStats, Step
from crossdock.cli.timeparse import format_age, format_instant

_STEP_STYLE = {
    Step.DELIVERED: "green",
    Step.FAILED: "yellow",
    Step.REDELIVERED: "yellow",
    Step.PARKED: "bold red",
    Step.DISCARDED: "red",
    Step.FILTERED: "dim",
}


def stats_dict(s: QueueStats) -> dict[str, Any]:
    return asdict(s)


def stats_table(stats: Sequence[QueueStats]) -> Table | str:
    if not stats:
        return "no messages waiting: every queue is empty"
    table = Table("flow", "destination", "depth", "in flight", "retrying", "parked", "oldest")
    for s in stats:
        parked = f"[bold red]{s.parked}[/]" if s.parked else "0"
        table.add_row(
            escape(s.flow),
            escape(s.destination),
            str(s.depth),
            str(s.in_flight),
            str(s.retrying),
            parked,
            format_age(s.oldest_age),
        )
    return table


def summary_dict(s: MessageSummary) -> dict[str, Any]:
    data = asdict(s)
    data["status"] = s.status.value
    return data


def summaries_table(found: Sequence[MessageSummary]) -> Table | str:
    if not found:
        return "no messages match"
    table = Table("received", "flow", "source", "event", "key", "status")
    table.columns.insert(0, Column("id", no_wrap=True, min_width=36))
    for s in found:
        table.add_row(
            s.id,
            format_instant(s.received_at),
            escape(s.flow),
            escape(s.source),
            escape(s.event_type),
            escape(s.key),
            s.status.value,
        )
    return table


def journey_dict(j: Journey) -> dict[str, Any]:
    return {
        **summary_dict(j.summary),
        "headers": dict(j.message.headers),
        "body": j.message.body,
        "journal": [
            {
                "at": e.at,
                "step": e.step.value,
                "destination": e.destination,
                "attempt": e.attempt,
                "detail": dict(e.detail),
                "payload": e.payload,
            }
            for e in j.entries
        ],
    }


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _fact(name: str, value: object) -> str:
    """A journal fact as text; a time (``next_try``, epoch seconds) as a time."""
    if name == "next_try" and isinstance(value, int | float):
        return format_instant(value)
    return str(value)


def print_journey(out: Console, j: Journey) -> None:
    s = j.summary
    out.print(f"[bold]message {s.id}[/]  status [bold]{s.status.value}[/]")
    out.print(
        f"flow {escape(s.flow)} · source {escape(s.source)} · event {escape(s.event_type)}"
        f" · key {escape(s.key)} · received {format_instant(s.received_at)}"
    )
    if s.correlation_id:
        out.print(f"correlation {escape(s.correlation_id)}")
    out.print("\n[bold]body[/]")
    out.print(escape(_json(j.message.body)))
    out.print("\n[bold]journey[/]")
    for e in j.entries:
        style = _STEP_STYLE.get(e.step, "cyan")
        where = f" → {escape(e.destination)}" if e.destination else ""
        attempt = f" (attempt {e.attempt})" if e.attempt else ""
        facts = "  ".join(f"{k}={escape(_fact(k, v))}" for k, v in e.detail.items())
        out.print(
            f"{format_instant(e.at)}  [{style}]{e.step.value:<11}[/]{where}{attempt}  {facts}"
        )
        if e.payload is not None:
            out.print("    " + escape(_json(e.payload)).replace("\n", "\n    "))
