"""Operator commands over the store: status, messages list/show, replay, discard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossdock.bus import MessageQuery, MessageStatus, Selector
from crossdock.cli import render
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
from crossdock.cli.timeparse import parse_instant


def status(
    config: ConfigOption = None, store: StoreOption = None, json: JsonOption = False
) -> None:
    """Per flow and destination: depth, in flight, retrying, parked, oldest age."""
    stats = with_backend(store_path(config, store), lambda b: b.stats(), read_only=True)
    if json:
        print_json([render.stats_dict(s) for s in stats])
    else:
        out.print(render.stats_table(stats))


messages = typer.Typer(help="Find messages and follow their journey.", no_args_is_help=True)


def _instant(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@messages.command("list")
def list_messages(
    flow: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Only messages from or to this endpoint.")
    ] = None,
    status: Annotated[MessageStatus | None, typer.Option(help="Only this status.")] = None,
    key: Annotated[str | None, typer.Option(help="Only this ordering key.")] = None,
    correlation: Annotated[
        str | None, typer.Option(help="Only messages with this correlation id.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Received since: 30m, 24h, 7d or an ISO-8601 time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Received before (same forms).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    config: ConfigOption = None,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """List messages, newest first."""
    query = MessageQuery(
        flow=flow,
        endpoint=endpoint,
        status=status,
        key=key,
        correlation_id=correlation,
        since=_instant(since, "--since"),
        until=_instant(until, "--until"),
        limit=limit,
    )
    found = with_backend(
        store_path(config, store), lambda b: b.find_messages(query), read_only=True
    )
    if json:
        print_json([render.summary_dict(s) for s in found])
    else:
        out.print(render.summaries_table(found))


@messages.command("show")
def show_message(
    message_id: Annotated[str, typer.Argument(help="The message id.")],
    config: ConfigOption = None,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """The whole journey of one message: envelope, payloads, every step and error."""
    journey = with_backend(
        store_path(config, store), lambda b: b.journey(message_id), read_only=True
    )
    if journey is None:
        raise fail(f"no message with id {message_id}")
    if json:
        print_json(render.journey_dict(journey))
    else:
        render.print_journey(out, journey)


def _selector(
    message_id: str | None,
    flow: str | None,
    endpoint: str | None,
    config: Path | None,
    store: Path | None,
) -> Selector:
    """What to select; a flow or endpoint the configuration does not define is an error
    (with only ``--store`` there is nothing to check names against)."""
    if message_id is None and flow is None and endpoint is None:
        raise typer.BadParameter("give a MESSAGE_ID, --flow or --endpoint")
    if (flow is not None or endpoint is not None) and (store is None or config is not None):
        defined = read_config(config, hint="give --config PATH or --store FILE")
        for kind, name, names in (
            ("flow", flow, defined.flows),
            ("endpoint", endpoint, defined.endpoints),
        ):
            if name is not None and name not in names:
                known = ", ".join(sorted(names))
                message = f"unknown {kind} {name!r}; defined: {known}"
                raise typer.BadParameter(message, param_hint=f"--{kind}")
    return Selector(message_id=message_id, flow=flow, destination=endpoint)


MessageArg = Annotated[str | None, typer.Argument(help="One parked message's id.")]
FlowSel = Annotated[str | None, typer.Option(help="All parked messages of this flow.")]
EndpointSel = Annotated[
    str | None, typer.Option(help="All parked messages for this target endpoint.")
]


def replay(
    message_id: MessageArg = None,
    flow: FlowSel = None,
    endpoint: EndpointSel = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """Put parked messages back in their lanes, in their original order."""
    selector = _selector(message_id, flow, endpoint, config, store)
    count = with_backend(store_path(config, store), lambda b: b.replay(selector))
    _report("replayed", count, json)


def discard(
    reason: Annotated[str, typer.Option(help="Why; recorded in the journal.")],
    message_id: MessageArg = None,
    flow: FlowSel = None,
    endpoint: EndpointSel = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    json: JsonOption = False,
) -> None:
    """Remove parked messages for good, recording the reason."""
    if not reason.strip():
        raise typer.BadParameter("must not be empty", param_hint="--reason")
    selector = _selector(message_id, flow, endpoint, config, store)
    count = with_backend(store_path(config, store), lambda b: b.discard(selector, reason))
    _report("discarded", count, json)


def _report(verb: str, count: int, json: bool) -> None:
    if json:
        print_json({verb: count})
    elif count == 0:
        out.print(f"nothing {verb}: no parked message matched")
    else:
        out.print(f"{verb} {count} message{'s' if count != 1 else ''}")


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.add_typer(messages, name="messages")
    app.command()(replay)
    app.command()(discard)
