"""The one cut between the http sink and the network.

`HttpClient` owns the endpoint's connections (a `wire.ConnectionPool` as large as
``concurrency``, for deliveries; an aiohttp session for what its auth fetches, e.g. OAuth
tokens), adds the credentials, resends once after a 401 when fresh credentials could help
(OAuth), and returns an `Answer` with the body read. Whatever the network does wrong comes
out as a `TransientError` (see `errors.network_errors`). Redirects are never followed: a
3xx is returned like any other answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from crossdock.config.connectors import HttpSettings
from crossdock.connectors.http.answers import Answer, Redactor
from crossdock.connectors.http.auth import auth_secrets, authenticator
from crossdock.connectors.http.errors import network_errors
from crossdock.connectors.http.wire import ConnectionPool

__all__ = ["MAX_ANSWER_BYTES", "HttpClient"]

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""Most bytes of a successful answer read (enough for any id to be found in it)."""
_MASK_MARGIN = 64 * 1024  # read past max_error_body, so a secret across the cut is masked


class HttpClient:
    """Sends requests for one endpoint. `open` before use; `close` at the end."""

    def __init__(self, settings: HttpSettings, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.redactor = Redactor(auth_secrets(settings.auth))
        self.auth = authenticator(settings.auth, self._live_session, self.redactor, clock=clock)
        self._session: aiohttp.ClientSession | None = None
        self._pool: ConnectionPool | None = None

    async def open(self) -> None:
        if self._pool is None:
            self._pool = ConnectionPool(
                URL(self.settings.base_url),
                size=self.settings.concurrency,
                timeout=self.settings.timeout.total_seconds(),
            )
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout.total_seconds()),
                cookie_jar=aiohttp.DummyCookieJar(),  # deliveries never share cookies
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, method: str, url: URL, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Send one request with credentials; after a 401, once more with fresh ones."""
        sent = await self.auth.headers()
        answer = await self._exchange(method, url, body, headers, sent)
        if answer.status == 401 and self.auth.invalidate(sent):
            sent = await self.auth.headers()
            answer = await self._exchange(method, url, body, headers, sent)
            return replace(answer, token_refreshed=True)
        return answer

    async def _exchange(
        self,
        method: str,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        credentials: Mapping[str, str],
    ) -> Answer:
        if credentials:
            all_headers = CIMultiDict(headers)
            all_headers.update(credentials)
            headers = all_headers
        if self._pool is None:
            raise RuntimeError("the http sink is not open: call open() first")
        limits = (MAX_ANSWER_BYTES, self.settings.max_error_body + _MASK_MARGIN)
        with network_errors(f"{method} {url}", self.redactor):
            answer = await self._pool.request(
                method, url.raw_path_qs, list(headers.items()), body, limits
            )
        return Answer(
            method=method,
            url=str(url),
            status=answer.status,
            reason=answer.reason,
            headers=answer.headers,
            body=answer.body,
        )

    def _live_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the http sink is not open: call open() first")
        return self._session


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
