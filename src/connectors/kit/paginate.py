"""Pagination: a paginator decides the first request and the next one; the loop guards against cycles.

Each vendor `client.py` picks its paginator explicitly; nothing is auto-detected.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from enrolsync.connectors.errors import PermanentError

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]
Extract = Callable[[httpx.Response], Sequence[Any]]


class Paginator(Protocol):
    def first(self, request: httpx.Request) -> httpx.Request: ...

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        """The request for the following page, or None when `response` was the last page."""
        ...


def _with_params(request: httpx.Request, **params: str | int) -> httpx.Request:
    url = request.url.copy_merge_params({k: str(v) for k, v in params.items()})
    return httpx.Request(request.method, url, headers=request.headers, content=request.content)


@dataclass(frozen=True)
class CursorParam:
    """Cursor in a query parameter; the next cursor is read from the response body by `next_cursor`."""

    param: str
    next_cursor: Callable[[httpx.Response], str | None]
    start: str | None = None

    def first(self, request: httpx.Request) -> httpx.Request:
        return _with_params(request, **{self.param: self.start}) if self.start else request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        cursor = self.next_cursor(response)
        return _with_params(request, **{self.param: cursor}) if cursor and items else None


@dataclass(frozen=True)
class PageNumber:
    """`page=N` paging; stops on a short or empty page, or when `has_next` says so."""

    size: int
    page_param: str = "page"
    size_param: str | None = "page_size"
    start: int = 1
    has_next: Callable[[httpx.Response], bool | None] | None = None

    def first(self, request: httpx.Request) -> httpx.Request:
        params: dict[str, str | int] = {self.page_param: self.start}
        if self.size_param:
            params[self.size_param] = self.size
        return _with_params(request, **params)

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        verdict = self.has_next(response) if self.has_next else None
        if verdict is False or not items or (verdict is None and len(items) < self.size):
            return None
        page = int(request.url.params.get(self.page_param, self.start))
        return _with_params(request, **{self.page_param: page + 1})


@dataclass(frozen=True)
class LinkHeader:
    """RFC 8288 `Link: <...>; rel="next"` paging (Canvas); the next URL is opaque."""

    def first(self, request: httpx.Request) -> httpx.Request:
        return request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        return httpx.Request(request.method, request.url.join(url), headers=request.headers)


async def paginate(
    send: Send, request: httpx.Request, paginator: Paginator, extract: Extract, *, max_pages: int = 100_000
) -> AsyncIterator[tuple[httpx.Response, Sequence[Any]]]:
    """Yield `(response, items)` page by page. Raises `PermanentError` on a repeated page request or past
    `max_pages`, because a remote system that loops would otherwise keep a run alive forever."""
    seen: set[str] = set()
    current: httpx.Request | None = paginator.first(request)
    pages = 0
    while current is not None:
        # The body is part of the marker: APIs that page in a JSON body (BambooHR Datasets) repeat the URL.
        marker = f"{current.method} {current.url} {hashlib.sha256(current.content).hexdigest()}"
        if marker in seen:
            raise PermanentError("pagination loop: the remote system repeated a page token")
        seen.add(marker)
        pages += 1
        if pages > max_pages:
            raise PermanentError(f"pagination stopped after {max_pages} pages")
        response = await send(current)
        items = extract(response)
        yield response, items
        current = paginator.next(current, response, items)
