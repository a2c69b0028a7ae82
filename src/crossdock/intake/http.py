"""The little of ASGI the intake needs: responses, request headers, bounded body reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "ASGIApp",
    "BodyTooLarge",
    "ClientGone",
    "Receive",
    "Refusal",
    "Response",
    "Scope",
    "Send",
    "json_response",
    "read_body",
    "request_headers",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


def json_response(status: int, value: object, *headers: tuple[str, str]) -> Response:
    return Response(status, orjson.dumps(value), headers=headers)


class Refusal(Exception):
    """A request refused with ``status`` and the body ``{"error": ..., "detail": ...}``."""

    def __init__(self, status: int, error: str, detail: str, *headers: tuple[str, str]) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers

    def response(self) -> Response:
        return json_response(
            self.status, {"error": self.error, "detail": self.detail}, *self.headers
        )


class BodyTooLarge(Exception):
    """The body grew past the limit while being read."""


class ClientGone(Exception):
    """The client disconnected before its request was read: nobody to answer."""


async def send_response(send: Send, response: Response) -> None:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def request_headers(scope: Scope) -> dict[str, str]:
    """Lowercase name -> value (Latin-1 decoded, so the bytes as sent), without the
    spaces and tabs around it; a repeated header's values joined by ", " (RFC 9110 5.3),
    so a second signature, content type or key never goes unseen."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1").strip(" \t")
        earlier = headers.get(name)
        headers[name] = value if earlier is None else f"{earlier}, {value}"
    return headers


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; `BodyTooLarge` as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
