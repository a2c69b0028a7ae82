"""``POST /hooks/{endpoint}``: from a request to stored messages, or a refusal.

The steps run in this order and each refuses with nothing stored: back-pressure and the
endpoint's rate limit (429), size (413, before and while reading) and read time (408),
signature on the raw bytes (401), content type (415) and parsing (400), event type
(422), correlation id (400), ordering keys (422), then one `enqueue_many`
for every flow of the endpoint (503 if the store cannot commit), each message with its
outcome from the `Router` (the processor) where it has one. 202 comes only after the
commit is durable.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from crossdock.bus.base import Backend, EnqueueResult, Router, store_routed
from crossdock.config import Config, WebhookSettings
from crossdock.core.envelope import JSON, Message
from crossdock.core.errors import StoreError
from crossdock.core.limits import TokenBucket
from crossdock.intake import parsing
from crossdock.intake.http import (
    BodyTooLarge,
    Receive,
    Refusal,
    Response,
    json_response,
    read_body,
)
from crossdock.intake.signatures import (
    SignatureError,
    SignatureOptions,
    StaleTimestamp,
    Verifier,
    verifier_for,
)
from crossdock.intake.state import StoreWatch

__all__ = ["FlowKey", "HookPlan", "Hooks", "key_at", "plan_hooks"]

log = structlog.get_logger("crossdock.intake")

_KEPT_HEADERS = ("content-type", "user-agent", "webhook-id")


@dataclass(frozen=True, slots=True)
class FlowKey:
    """A flow fed by an endpoint, and where its ordering key is in the body."""

    flow: str
    path: str | None  # dotted, as configured; None: every message is its own lane


@dataclass(frozen=True, slots=True)
class HookPlan:
    """Everything about one webhook endpoint, worked out once at start."""

    endpoint: str
    max_body: int
    verifier: Verifier | None
    secrets: tuple[bytes, ...]
    options: SignatureOptions
    accepted: frozenset[str]
    max_depth: int
    idempotency_header: str | None  # lowercase
    event_type: str
    event_type_header: str | None  # lowercase
    event_types: frozenset[str]
    flows: tuple[FlowKey, ...]
    kept_headers: tuple[str, ...]
    correlation_header: str | None  # lowercase
    bucket: TokenBucket | None  # the endpoint's rate limit (this process's share)


def plan_hooks(config: Config, *, workers: int = 1) -> dict[str, HookPlan]:
    """One plan per webhook endpoint; ``workers`` processes share each rate limit evenly.
    ValueError for a secret its scheme cannot use."""
    plans = {}
    for name, endpoint in config.endpoints.items():
        if isinstance(endpoint.settings, WebhookSettings):
            plans[name] = _plan(name, endpoint.settings, config, workers)
    return plans


def _bucket(settings: WebhookSettings, workers: int) -> TokenBucket | None:
    if settings.rate_limit is None:
        return None
    burst = settings.burst if settings.burst is not None else math.ceil(settings.rate_limit)
    return TokenBucket.shared(settings.rate_limit, burst, workers)


def _lower(header: str | None) -> str | None:
    return None if header is None else header.lower()


def _plan(name: str, settings: WebhookSettings, config: Config, workers: int) -> HookPlan:
    secrets = tuple(s.get_secret_value().encode() for s in settings.secrets)
    idempotency = _lower(settings.idempotency_header)
    return HookPlan(
        endpoint=name,
        max_body=settings.max_body_bytes or config.server.max_body_bytes,
        verifier=verifier_for(settings.signature, secrets),
        secrets=secrets,
        options=SignatureOptions(
            _lower(settings.signature_header), settings.tolerance.total_seconds()
        ),
        accepted=frozenset(settings.content_types),
        max_depth=settings.max_depth,
        idempotency_header=idempotency,
        event_type=settings.event_type,
        event_type_header=_lower(settings.event_type_header),
        event_types=frozenset(settings.event_types),
        flows=tuple(
            FlowKey(flow_name, flow.key)
            for flow_name, flow in config.flows.items()
            if name in flow.sources
        ),
        kept_headers=(*_KEPT_HEADERS, *((idempotency,) if idempotency else ())),
        correlation_header=_lower(settings.correlation_header),
        bucket=_bucket(settings, workers),
    )


def key_at(body: JSON, path: str) -> str:
    """The ordering key at dotted ``path`` (list items by number): 422 if missing, or
    if it is not a string or a number."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Refusal(422, "missing_key", f"the body has no value at {path}")
    if isinstance(node, str):
        if "\x00" in node:
            raise Refusal(422, "invalid_key", f"the value at {path} contains a NUL character")
        return node
    if isinstance(node, int | float) and not isinstance(node, bool):
        return str(node)
    kind = "null" if node is None else type(node).__name__
    raise Refusal(422, "invalid_key", f"the value at {path} is a {kind}, not a string or number")


_MAX_CORRELATION_ID = 200


def _correlation_id(plan: HookPlan, headers: Mapping[str, str]) -> str | None:
    """The request's correlation id, if the endpoint names its header and it was sent."""
    if plan.correlation_header is None:
        return None
    value = headers.get(plan.correlation_header)
    if not value:  # absent, or sent empty by a sender that has none
        return None
    if len(value) > _MAX_CORRELATION_ID or not all("!" <= c <= "~" for c in value):
        raise Refusal(
            400,
            "bad_request",
            f"invalid {plan.correlation_header}: 1 to {_MAX_CORRELATION_ID} visible ASCII "
            "characters expected",
        )
    return value


class Hooks:
    """Handles ``POST /hooks/{endpoint}`` for the planned endpoints."""

    def __init__(
        self,
        backend: Backend,
        watch: StoreWatch,
        *,
        max_queue_depth: int,
        retry_after: int,
        read_timeout: float = 30.0,
        router: Router | None = None,
    ) -> None:
        self._backend = backend
        self._router = router
        self._watch = watch
        self._max_queue_depth = max_queue_depth
        self._retry_after = ("Retry-After", str(retry_after))
        self._read_timeout = read_timeout

    async def handle(
        self, plan: HookPlan, headers: Mapping[str, str], receive: Receive
    ) -> tuple[Response, bool | None]:
        """The answer, and for a 202 whether it was a repeated delivery. Raises
        `Refusal` (nothing stored) or `ClientGone`."""
        received_at = time.time()
        if self._watch.depth > self._max_queue_depth:
            raise Refusal(
                429, "too_many_requests", "the hub is catching up; retry later", self._retry_after
            )
        if plan.bucket is not None and (wait := plan.bucket.take()) > 0:
            raise Refusal(
                429,
                "rate_limited",
                "this endpoint receives more webhooks than its rate limit; retry later",
                ("Retry-After", str(math.ceil(wait))),
            )
        body = await self._read(plan, headers, receive)
        self._verify(plan, headers, body, received_at)
        try:
            value = parsing.parse_body(
                body, headers.get("content-type"), plan.accepted, plan.max_depth
            )
        except parsing.UnsupportedMediaType as exc:
            raise Refusal(415, "unsupported_media_type", str(exc)) from None
        except parsing.MalformedBody as exc:
            raise Refusal(400, "malformed_body", str(exc)) from None
        messages = self._messages(plan, headers, value, received_at)
        results = await self._store(plan, headers, messages)
        duplicate = results[0].duplicate
        answer = {"ids": [r.message_id for r in results], "duplicate": duplicate}
        return json_response(202, answer), duplicate

    async def _read(self, plan: HookPlan, headers: Mapping[str, str], receive: Receive) -> bytes:
        too_large = Refusal(
            413,
            "payload_too_large",
            f"the body is larger than {plan.max_body} bytes",
            ("Connection", "close"),  # the rest of the body is not read: hang up
        )
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.lower() != "chunked":
            raise Refusal(501, "not_implemented", f"transfer coding {coding!r} is not supported")
        coding = headers.get("content-encoding")
        if coding is not None and coding.lower() not in ("", "identity"):
            raise Refusal(
                415, "unsupported_media_type", f"content coding {coding!r} is not accepted"
            )
        declared = headers.get("content-length")
        if declared is not None:
            digits = declared.strip()
            if not (digits.isascii() and digits.isdigit()):
                raise Refusal(400, "bad_request", "invalid Content-Length")
            if len(digits) > 18 or int(digits) > plan.max_body:
                raise too_large
        # A sender slower than the read timeout holds a connection and a task: answer it,
        # and hang up. (One timer per request: `asyncio.timeout` costs three times as much.)
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self._read_timeout, expire)
        try:
            return await read_body(receive, plan.max_body)
        except BodyTooLarge:
            raise too_large from None
        except asyncio.CancelledError:
            if not expired or task.uncancel() > 0:
                raise  # cancelled from elsewhere (shutdown) as well
            raise Refusal(
                408,
                "request_timeout",
                f"the body did not arrive within {self._read_timeout:g} s",
                ("Connection", "close"),
            ) from None
        finally:
            timer.cancel()

    @staticmethod
    def _verify(plan: HookPlan, headers: Mapping[str, str], body: bytes, now: float) -> None:
        if plan.verifier is None:
            return
        try:
            plan.verifier(headers, body, plan.secrets, now, plan.options)
        except StaleTimestamp:
            raise Refusal(401, "unauthorized", "stale timestamp") from None
        except SignatureError:
            raise Refusal(401, "unauthorized", "bad signature") from None
        except Exception as exc:  # a verifier's bug must not let a request through
            log.error(
                "signature verifier failed", endpoint=plan.endpoint, error_class=type(exc).__name__
            )
            raise Refusal(401, "unauthorized", "bad signature") from None

    @staticmethod
    def _event_type(plan: HookPlan, headers: Mapping[str, str]) -> str:
        if plan.event_type_header is None:
            return plan.event_type
        value = headers.get(plan.event_type_header)
        if value is None or value not in plan.event_types:
            raise Refusal(
                422,
                "event_type_not_allowed",
                f"header {plan.event_type_header} is missing or not an accepted event type",
            )
        return value

    def _messages(
        self, plan: HookPlan, headers: Mapping[str, str], body: JSON, received_at: float
    ) -> list[Message]:
        event_type = self._event_type(plan, headers)
        correlation_id = _correlation_id(plan, headers)
        kept = {h: headers[h] for h in plan.kept_headers if h in headers}
        return [
            Message.new(
                flow=route.flow,
                source=plan.endpoint,
                event_type=event_type,
                body=body,
                key=None if route.path is None else key_at(body, route.path),
                headers=kept,
                received_at=received_at,
                correlation_id=correlation_id,
            )
            for route in plan.flows
        ]

    async def _store(
        self, plan: HookPlan, headers: Mapping[str, str], messages: list[Message]
    ) -> list[EnqueueResult]:
        delivery_id = headers.get(plan.idempotency_header or "") or None
        dedup = None if delivery_id is None else (plan.endpoint, delivery_id)
        try:
            results = await store_routed(self._backend, messages, self._router, dedup=dedup)
        except StoreError as exc:
            self._watch.write_failed()
            log.warning("store refused a request", endpoint=plan.endpoint, error=str(exc))
            raise Refusal(
                503,
                "store_unavailable",
                "the message could not be stored; retry later",
                self._retry_after,
            ) from None
        self._watch.wrote()
        return results
