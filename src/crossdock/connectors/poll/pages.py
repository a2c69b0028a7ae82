"""Pagination: which URL to GET first, and which next, given the last page.

One `Pager` per poll. `first` gives the first URL; `next` is told what the last page held
(its JSON document, how many records, its ``Link: rel="next"`` target) and gives the next
URL or None when the listing is complete. Every URL but a Link's is the configured URL
(with the cursor parameter) plus this pager's own query parameters.
"""

from __future__ import annotations

from typing import Protocol

from yarl import URL

from crossdock.config.connectors import (
    LinkPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
    TokenPagination,
)
from crossdock.connectors.poll.records import MalformedAnswer
from crossdock.core.envelope import JSON
from crossdock.core.paths import MISSING, get_path, split_path

__all__ = ["Pager", "pager_for"]

PaginationSettings = (
    NoPagination | OffsetPagination | PagePagination | TokenPagination | LinkPagination
)


class Pager(Protocol):
    def first(self) -> URL: ...

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None: ...


class SinglePage:
    """``type: none``: one request."""

    def __init__(self, base: URL) -> None:
        self._base = base

    def first(self) -> URL:
        return self._base

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None:
        return None


class OffsetPager:
    """``type: offset``: a page shorter than ``limit`` is the last."""

    def __init__(self, settings: OffsetPagination, base: URL) -> None:
        self._settings = settings
        self._base = base
        self._offset = 0

    def _url(self) -> URL:
        s = self._settings
        return self._base.update_query({s.param: self._offset, s.limit_param: s.limit})

    def first(self) -> URL:
        return self._url()

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None:
        if count < self._settings.limit:
            return None
        self._offset += count
        return self._url()


class PageNumberPager:
    """``type: page``: an empty page is past the last; with ``size``, a short one is the last."""

    def __init__(self, settings: PagePagination, base: URL) -> None:
        self._settings = settings
        self._base = base
        self._page = settings.start

    def _url(self) -> URL:
        s = self._settings
        query: dict[str, int] = {s.param: self._page}
        if s.size_param is not None and s.size is not None:
            query[s.size_param] = s.size
        return self._base.update_query(query)

    def first(self) -> URL:
        return self._url()

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None:
        size = self._settings.size
        if count == 0 or (size is not None and count < size):
            return None
        self._page += 1
        return self._url()


class TokenPager:
    """``type: cursor_token``: the answer names the next page's token; none on the last."""

    def __init__(self, settings: TokenPagination, base: URL) -> None:
        self._settings = settings
        self._path = split_path(settings.token)
        self._base = base

    def first(self) -> URL:
        return self._base

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None:
        token = get_path(document, self._path)
        if token is MISSING or token is None or token == "":
            return None
        if isinstance(token, bool) or not isinstance(token, str | int | float):
            raise MalformedAnswer(f"the next-page token at {self._settings.token} is not text")
        return self._base.update_query({self._settings.param: str(token)})


class LinkPager:
    """``type: link``: follow ``Link: <...>; rel="next"`` (the caller checks its origin)."""

    def __init__(self, base: URL) -> None:
        self._base = base

    def first(self) -> URL:
        return self._base

    def next(self, document: JSON, count: int, link: URL | None) -> URL | None:
        return link


def pager_for(settings: PaginationSettings, base: URL) -> Pager:
    """A fresh pager for one poll of ``base`` (the URL with the cursor parameter)."""
    if isinstance(settings, OffsetPagination):
        return OffsetPager(settings, base)
    if isinstance(settings, PagePagination):
        return PageNumberPager(settings, base)
    if isinstance(settings, TokenPagination):
        return TokenPager(settings, base)
    if isinstance(settings, LinkPagination):
        return LinkPager(base)
    return SinglePage(base)
