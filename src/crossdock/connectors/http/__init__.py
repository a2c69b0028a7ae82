"""The ``http`` connector: delivers messages to any system with an HTTP API.

    sink = HttpSink("erp", settings)      # settings: crossdock.config.HttpSettings
    await sink.open()
    receipt = await sink.deliver(delivery)
    await sink.close()

Its settings (`HttpSettings`) live in ``crossdock.config.connectors``; what it sends and
how answers are classified is described in docs/connectors.md.
"""

from __future__ import annotations

from crossdock.connectors.http.answers import (
    MAX_RETRY_AFTER,
    Answer,
    Redactor,
    find_response_id,
    parse_retry_after,
)
from crossdock.connectors.http.client import HttpClient
from crossdock.connectors.http.errors import HttpRejected
from crossdock.connectors.http.sink import TRANSIENT_STATUSES, USER_AGENT, HttpSink
from crossdock.connectors.http.template import UrlTemplate

__all__ = [
    "MAX_RETRY_AFTER",
    "TRANSIENT_STATUSES",
    "USER_AGENT",
    "Answer",
    "HttpClient",
    "HttpRejected",
    "HttpSink",
    "Redactor",
    "UrlTemplate",
    "find_response_id",
    "parse_retry_after",
]
