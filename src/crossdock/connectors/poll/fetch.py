"""GET the pages of one poll and classify what the service answers.

```
DeliveryError (crossdock.core.errors)
├── TransientError     network failure, timeout, 408, 425, 429, 5xx (retry_after from
│                      Retry-After): the whole poll is tried again later
├── AuthError          401 (after one retry with a fresh OAuth token), 403
└── PermanentError
    ├── PollRejected       3xx (redirects are not followed) and other 4xx
    ├── MalformedAnswer    not JSON, no list of records, a page too large
    └── LinkRefused        a Link rel="next" to another scheme, host or port
```
Every message names the URL (which never holds credentials: they travel in headers) and
passes through the endpoint's `Redactor`. Credentials come from the http connector's
authenticators, so OAuth tokens are fetched, cached and renewed the same way.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from crossdock.config.connectors import PollSettings
from crossdock.connectors.http.answers import Redactor, parse_retry_after
from crossdock.connectors.http.auth import auth_secrets, authenticator
from crossdock.connectors.http.client import read_limited
from crossdock.connectors.http.errors import describe_answer, network_errors
from crossdock.connectors.http.sink import USER_AGENT
from crossdock.connectors.poll.pages import Pager, pager_for
from crossdock.connectors.poll.records import MalformedAnswer
from crossdock.core.envelope import JSON
from crossdock.core.errors import AuthError, PermanentError, TransientError
from crossdock.core.paths import get_path, split_path

__all__ = ["MAX_PAGE_BYTES", "Fetched", "LinkRefused", "Page", "PollClient", "PollRejected"]

MAX_PAGE_BYTES = 32 * 1024 * 1024
"""Largest answer read for one page; a larger one is a `MalformedAnswer`."""
_TRANSIENT = frozenset({408, 425, 429})
_ERROR_BODY = 512  # characters of an error answer kept in the message


class PollRejected(PermanentError):
    """The service refused the request (a 3xx or a 4xx other than 401, 403, 408, 425,
    429): the poll is tried again at the next scheduled time."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LinkRefused(PermanentError):
    """A ``Link: rel="next"`` led away from the configured scheme, host and port."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    reason: str
    retry_after: float | None
    body: bytes  # at most MAX_PAGE_BYTES + 1 bytes: one more means "too large"
    next_link: URL | None


@dataclass(frozen=True, slots=True)
class Page:
    """One successful answer: its JSON document, its records and its next link."""

    url: URL
    document: JSON
    records: list[JSON]
    next_link: URL | None


@dataclass(slots=True)
class Fetched:
    """Everything one poll listed, in page order."""

    records: list[JSON] = field(default_factory=list)
    pages: int = 0
    truncated: bool = False  # max_pages was reached while more pages were announced


class PollClient:
    """Fetches the pages of one endpoint. A session lives for one `session()` block."""

    def __init__(self, settings: PollSettings, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.redactor = Redactor(auth_secrets(settings.auth))
        self.auth = authenticator(settings.auth, self._live_session, self.redactor, clock=clock)
        self._session: aiohttp.ClientSession | None = None
        self._records_path = None if settings.records is None else split_path(settings.records)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout.total_seconds())
        async with aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def fetch(self, cursor: JSON | None) -> Fetched:
        """GET every page (at most ``max_pages``), with ``cursor`` as the cursor parameter."""
        base = URL(self.settings.url)
        if self.settings.cursor is not None and cursor is not None:
            base = base.update_query({self.settings.cursor.param: _query_value(cursor)})
        pager: Pager = pager_for(self.settings.pagination, base)
        fetched = Fetched()
        url: URL | None = pager.first()
        while url is not None:
            page = await self.get_page(url)
            fetched.pages += 1
            fetched.records.extend(page.records)
            url = pager.next(page.document, len(page.records), page.next_link)
            if url is not None and _other_origin(url, base):
                where = f"{url.scheme}://{url.host}:{url.port}"
                raise LinkRefused(f"GET {page.url}: refused to follow a link to {where}")
            if url is not None and fetched.pages >= self.settings.max_pages:
                fetched.truncated = True
                break
        return fetched

    async def get_page(self, url: URL) -> Page:
        """One page; raises what the answer calls for (see the module docstring)."""
        answer = await self._get(url)
        if not 200 <= answer.status < 300:
            raise self._failure(url, answer)
        if len(answer.body) > MAX_PAGE_BYTES:
            raise MalformedAnswer(f"GET {url}: answer larger than {MAX_PAGE_BYTES} bytes")
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise MalformedAnswer(f"GET {url}: answer is not JSON") from None
        path = self._records_path
        records = document if path is None else get_path(document, path)
        if not isinstance(records, list):
            where = "the answer" if self.settings.records is None else self.settings.records
            raise MalformedAnswer(f"GET {url}: {where} is not a list of records")
        return Page(url, document, records, answer.next_link)

    async def _get(self, url: URL) -> _Answer:
        """One GET with credentials; after a 401, once more if fresh ones could help."""
        sent = await self.auth.headers()
        answer = await self._exchange(url, sent)
        if answer.status == 401 and self.auth.invalidate(sent):
            answer = await self._exchange(url, await self.auth.headers())
        return answer

    async def _exchange(self, url: URL, credentials: dict[str, str]) -> _Answer:
        headers = CIMultiDict({"Accept": "application/json", "User-Agent": USER_AGENT})
        headers.update(self.settings.headers)
        headers.update(credentials)
        with network_errors(f"GET {url}", self.redactor):
            async with self._live_session().get(
                url, headers=headers, allow_redirects=False
            ) as response:
                return _Answer(
                    status=response.status,
                    reason=response.reason or "",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    body=await read_limited(response, MAX_PAGE_BYTES + 1),
                    next_link=_next_link(response),
                )

    def _failure(self, url: URL, answer: _Answer) -> Exception:
        status = answer.status
        text = describe_answer(
            f"GET {url}", status, answer.reason, answer.body, _ERROR_BODY, self.redactor
        )
        if status in (401, 403):
            return AuthError(text)
        if status in _TRANSIENT or status >= 500:
            return TransientError(text, retry_after=answer.retry_after)
        return PollRejected(text, status=status)

    def _live_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("PollClient.session() is not open")
        return self._session


def _query_value(value: JSON) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _other_origin(url: URL, base: URL) -> bool:
    return (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port)


def _next_link(response: aiohttp.ClientResponse) -> URL | None:
    """The target of the first ``Link`` with relation type ``next`` (RFC 8288; a link may
    name several space-separated relation types), resolved against the request URL."""
    for relations, link in response.links.items():
        if "next" in relations.lower().split():
            target = link.get("url")
            return target if isinstance(target, URL) else None
    return None
