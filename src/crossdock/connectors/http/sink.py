"""`HttpSink`: applies deliveries to a system by sending their payload as JSON over HTTP.

One request per delivery: ``method`` to ``base_url`` + the ``path`` template filled from
the message (see `template`), the payload as the JSON body, and these headers on top of
the configured ones:

- ``Idempotency-Key: <message id>:<destination>`` (the same on every redelivery, so a
  target that honours it applies a message once);
- ``X-Crossdock-Message-Id``, ``X-Crossdock-Attempt`` (1 on the first attempt);
- with ``settings.correlation_header``, the message's correlation id in that header (its
  own id when it came without one);
- ``User-Agent: crossdock/<version>`` and ``Content-Type: application/json`` unless
  configured otherwise;
- the credentials of ``auth``.

What the answer means is decided in one place, `HttpSink.classify`; a connector for a
particular system subclasses `HttpSink` and overrides it (e.g. to take a 409 Conflict
as "already there").

The sink applies no rate limit or circuit breaker itself: the delivery worker does, from
``settings.rate_limit``, ``settings.burst`` and ``settings.breaker``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import orjson
from multidict import CIMultiDict

from crossdock.bus.base import Delivery
from crossdock.config.connectors import HttpSettings
from crossdock.connectors.base import Receipt
from crossdock.connectors.http.answers import Answer, find_response_id, parse_retry_after
from crossdock.connectors.http.client import HttpClient
from crossdock.connectors.http.errors import HttpRejected, describe_answer, shown_body
from crossdock.connectors.http.template import UrlTemplate
from crossdock.core.envelope import JSON
from crossdock.core.errors import AuthError, PermanentError, TransientError

__all__ = ["TRANSIENT_STATUSES", "USER_AGENT", "HttpSink"]

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Statuses below 500 that are worth retrying (with 5xx)."""


def _user_agent() -> str:
    try:
        return f"crossdock/{version('crossdock')}"
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "crossdock/dev"


USER_AGENT = _user_agent()


class HttpSink:
    """The `Sink` of the ``http`` connector: one per target endpoint.

    Built by the runtime through ``crossdock.connectors.create_sink``; `open` creates the
    endpoint's connection pool, `deliver` may then be called concurrently (the pool holds
    ``settings.concurrency`` connections), `close` releases it.
    """

    def __init__(
        self,
        endpoint_name: str,
        settings: HttpSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (monotonic seconds) times the OAuth token's lifetime."""
        self.endpoint_name = endpoint_name
        self.settings = settings
        self._url = UrlTemplate(settings.base_url, settings.path)
        self._client = HttpClient(settings, clock=clock)

    @property
    def client(self) -> HttpClient:
        return self._client

    async def open(self) -> None:
        await self._client.open()

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> HttpSink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Send one delivery; a `Receipt`, or the error `classify` chose."""
        url = self._url.render(delivery)
        body = _json_body(delivery.payload)
        headers = self.request_headers(delivery)
        answer = await self._client.send(self.settings.method, url, body, headers)
        return self.classify(answer)

    def request_headers(self, delivery: Delivery) -> CIMultiDict[str]:
        """The headers of a delivery's request, credentials aside."""
        headers: CIMultiDict[str] = CIMultiDict(
            {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        )
        headers.update(self.settings.headers)  # may replace Content-Type or User-Agent
        message = delivery.message
        headers["Idempotency-Key"] = f"{message.id}:{delivery.destination}"
        headers["X-Crossdock-Message-Id"] = message.id
        headers["X-Crossdock-Attempt"] = str(message.attempt)
        if self.settings.correlation_header is not None:
            headers[self.settings.correlation_header] = message.correlation_id or message.id
        return headers

    def classify(self, answer: Answer) -> Receipt:
        """What the answer means: a Receipt for 2xx, else the error to raise.

        2xx: delivered. 408, 425, 429, 5xx: `TransientError` (``retry_after`` from
        ``Retry-After``). 401, 403: `AuthError`. Other statuses: `HttpRejected` (a
        `PermanentError`) with the masked, truncated body.
        """
        status = answer.status
        if 200 <= status < 300:
            return self.receipt(answer)
        message = self.describe(answer)
        if status in TRANSIENT_STATUSES or status >= 500:
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            raise TransientError(message, retry_after=retry_after)
        if status in (401, 403):
            raise AuthError(message)
        if 300 <= status < 400:
            location = self._client.redactor(answer.headers.get("Location", "nowhere"))
            message = f"{message} (redirect to {location} not followed: fix base_url)"
        body = shown_body(answer.body, self.settings.max_error_body, self._client.redactor)
        raise HttpRejected(message, status=status, body=body)

    def receipt(self, answer: Answer) -> Receipt:
        """The Receipt of a 2xx answer: the target's record id if ``response_id`` is set."""
        detail: dict[str, JSON] = {}
        if answer.token_refreshed:
            detail["token_refreshed"] = True
        target_id = None
        if self.settings.response_id is not None:
            target_id, note = find_response_id(answer.body, self.settings.response_id)
            if note is not None:
                detail["response_id"] = f"not found: {note}"
        return Receipt(target_id=target_id, status=answer.status, detail=detail)

    def describe(self, answer: Answer) -> str:
        """``<method> <url> answered <status> <reason>: <body>``, secrets masked."""
        return describe_answer(
            f"{answer.method} {answer.url}",
            answer.status,
            answer.reason,
            answer.body,
            self.settings.max_error_body,
            self._client.redactor,
        )


def _json_body(payload: JSON) -> bytes:
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise PermanentError(f"the payload cannot be sent as JSON: {exc}") from exc
