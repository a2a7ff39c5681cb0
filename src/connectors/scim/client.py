"""One typed call per SCIM endpoint the connector uses (RFC 7644), over the connection's httpx client.

Reads (discovery, lists, single resources) retry through the kit; writes are sent once: the executor re-reads and
retries ops that came back `retry`. The bearer token is added per request, never logged (the kit logs method,
host, path and status only). Paths are relative to the configured SCIM root.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError
from scim2_models import ResourceType, ServiceProviderConfig

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import NotFound, PermanentError
from enrolsync.connectors.kit.auth import Bearer
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.paginate import paginate
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.scim.errors import classify
from enrolsync.connectors.scim.models import MEDIA_TYPE, Features

Body = dict[str, Any]
HEADERS = {"Accept": f"{MEDIA_TYPE}, application/json", "Content-Type": MEDIA_TYPE}


@dataclass(frozen=True)
class StartIndex:
    """SCIM index paging (RFC 7644 section 3.4.2.4): 1-based `startIndex` and `count`; ends when the answer's
    `totalResults` is reached or a page comes back empty."""

    count: int

    def first(self, request: httpx.Request) -> httpx.Request:
        return _with(request, startIndex=1, count=self.count)

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        body = response.json()
        start = int(request.url.params.get("startIndex", "1"))
        total = body.get("totalResults")
        after = start + len(items)
        if not items or (isinstance(total, int) and after > total):
            return None
        return _with(request, startIndex=after)


def _with(request: httpx.Request, **params: int) -> httpx.Request:
    url = request.url.copy_merge_params({k: str(v) for k, v in params.items()})
    return httpx.Request(request.method, url, headers=request.headers)


def _resources(response: httpx.Response) -> list[Body]:
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("Resources", []), list):
        raise PermanentError("unexpected answer shape from a SCIM list")
    return list(body.get("Resources", []))


@dataclass(frozen=True)
class Answer:
    """A write's answer: its status, body (None for 204) and ETag (None when the server sends none)."""

    status: int
    body: Body | None
    etag: str | None
    location: str | None


class ScimClient:
    def __init__(self, http: httpx.AsyncClient, token: SecretStr, retry: ReadRetryPolicy) -> None:
        self._http = http
        self._auth = Bearer(token)
        self._retry = retry

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth)
        error = classify(response)
        if error is not None:
            raise error
        return response

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:  # fmt: skip
        content = None if body is None else json.dumps(body).encode()
        return self._http.build_request(
            method, path, params=params, content=content, headers={**HEADERS, **(headers or {})}
        )

    async def _read(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        return await with_retry(lambda: self._send(self._request("GET", path, params=params)), self._retry)

    # -- discovery ---------------------------------------------------------------------------------------------
    async def features(self) -> Features:
        """What the server supports, from /ServiceProviderConfig and (when it answers) /ResourceTypes."""
        try:
            config = ServiceProviderConfig.model_validate((await self._read("ServiceProviderConfig")).json())
        except (ValidationError, ValueError) as error:
            raise PermanentError("unexpected answer shape from /ServiceProviderConfig") from error
        try:
            answer = await self._read("ResourceTypes")
            types: list[ResourceType] | None = [ResourceType.model_validate(t) for t in _resources(answer)]
        except NotFound:
            types = None  # optional for servers (RFC 7644 section 4): assume User with the extension, and Group
        except (ValidationError, ValueError) as error:
            raise PermanentError("unexpected answer shape from /ResourceTypes") from error
        return Features.discovered(config, types)

    # -- reads -------------------------------------------------------------------------------------------------
    async def pages(
        self, resource: str, *, count: int, filter: str | None = None, attributes: str | None = None
    ) -> AsyncIterator[list[Body]]:
        """Every resource of a type (or those matching `filter`), page by page."""
        params = {k: v for k, v in (("filter", filter), ("attributes", attributes)) if v}
        request = self._request("GET", resource, params=params)

        async def send(r: httpx.Request) -> httpx.Response:
            return await with_retry(lambda: self._send(r), self._retry)

        async for _, items in paginate(send, request, StartIndex(count), _resources):
            yield list(items)

    async def get(self, path: str) -> tuple[Body, str | None]:
        """One resource and its ETag (the header, else `meta.version`)."""
        response = await self._read(path)
        body = response.json()
        if not isinstance(body, dict):
            raise PermanentError("unexpected answer shape from a SCIM resource")
        return body, response.headers.get("ETag") or (body.get("meta") or {}).get("version")

    async def probe(self) -> None:
        """The cheapest authenticated read: one User id (proves the token; discovery needs none)."""
        await self._read("Users", {"count": "1", "attributes": "id"})

    # -- writes ------------------------------------------------------------------------------------------------
    async def delete(self, path: str) -> None:
        """DELETE once; the server answers 204, or 404 for a resource already gone (`NotFound`)."""
        await self._send(self._request("DELETE", path))

    async def write(self, method: str, path: str, body: Any, *, if_match: str | None = None) -> Answer:
        """POST, PUT or PATCH once; `if_match` makes the server refuse (412) a resource changed since read."""
        headers = {"If-Match": if_match} if if_match else None
        response = await self._send(self._request(method, path, body=body, headers=headers))
        answer = response.json() if response.content else None
        return Answer(
            status=response.status_code,
            body=answer if isinstance(answer, dict) else None,
            etag=response.headers.get("ETag"),
            location=response.headers.get("Location"),
        )
