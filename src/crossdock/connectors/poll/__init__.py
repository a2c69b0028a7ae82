"""The ``poll`` connector's source: GET a system's records on a schedule, page by page.

    client = PollClient(settings)             # settings: PollSettings
    async with client.session():
        fetched = await client.fetch(cursor)  # every page of one poll
    selection = select_records(fetched.records, state, field=..., key=...)

The runtime side (schedule, back-off, the one commit per poll) is
``crossdock.runtime.poller``; the settings model `PollSettings` lives in
``crossdock.config.connectors``; docs/connectors.md describes the behaviour.
"""

from __future__ import annotations

from crossdock.connectors.poll.fetch import (
    MAX_PAGE_BYTES,
    Fetched,
    LinkRefused,
    Page,
    PollClient,
    PollRejected,
)
from crossdock.connectors.poll.pages import Pager, pager_for
from crossdock.connectors.poll.records import (
    CursorState,
    FlowKey,
    MalformedAnswer,
    Selection,
    build_messages,
    record_identity,
    select_records,
)

__all__ = [
    "MAX_PAGE_BYTES",
    "CursorState",
    "Fetched",
    "FlowKey",
    "LinkRefused",
    "MalformedAnswer",
    "Page",
    "Pager",
    "PollClient",
    "PollRejected",
    "Selection",
    "build_messages",
    "pager_for",
    "record_identity",
    "select_records",
]
