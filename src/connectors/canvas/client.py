"""Typed calls to the Canvas REST API (`/api/v1`), one per endpoint the connector uses.

Bearer token on every request (added here, so a client built without auth still authenticates); writes are
form-encoded with Rails-style names (`user[name]`), as the published documents list their parameters. Lists follow
the `Link` header's `rel="next"` URL as an opaque string, and only on the instance's own host, so the token never
travels elsewhere. Reads retry through the kit; writes are sent once. Every request passes the `Budget`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.canvas.budget import Budget
from enrolsync.connectors.canvas.errors import classify
from enrolsync.connectors.errors import PermanentError, TransientError
from enrolsync.connectors.kit.auth import Bearer
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.paginate import paginate
from enrolsync.connectors.kit.retry import with_retry

API = "api/v1/"
M = TypeVar("M", bound=BaseModel)
Form = Sequence[tuple[str, str | int | bool | None]]


def sis(kind: str, value: str) -> str:
    """An id written through an SIS id (`sis_user_id:E%2F1`): UTF-8, then URL-escaped, `/` included."""
    return f"{kind}:{quote(value, safe='')}"


def parse(model: type[M], body: Any, what: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise PermanentError(f"unexpected answer shape from {what}") from error


class NextLink:
    """RFC 8288 `rel="next"` paging, refusing a next page on another host, port or scheme (it would receive the
    token, or receive it unencrypted)."""

    def __init__(self, host: str) -> None:
        self._host = host

    def first(self, request: httpx.Request) -> httpx.Request:
        return request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        target = request.url.join(url)
        here = request.url
        if (target.scheme, target.host, target.port) != (here.scheme, self._host, here.port):
            raise PermanentError("Canvas named a next page on another host or scheme; not followed")
        return httpx.Request(request.method, target, headers=request.headers)


class CanvasClient:
    def __init__(
        self, http: httpx.AsyncClient, token: SecretStr, retry: ReadRetryPolicy, budget: Budget, *, per_page: int
    ) -> None:
        self._http = http
        self._auth = Bearer(token)
        self._retry = retry
        self.budget = budget
        self._per_page = per_page

    # -- mechanics ----------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: Form = (), form: Form | None = None) -> httpx.Request:
        query: list[tuple[str, str | int | float | bool | None]] = [(k, _text(v)) for k, v in params if v is not None]
        headers = {"Accept": "application/json"}
        content = None
        if form is not None:
            content = urlencode([(k, _text(v)) for k, v in form if v is not None]).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self._http.build_request(method, API + path, params=query, content=content, headers=headers)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with self.budget.slot():
            async with transport_errors():
                response = await self._http.send(request, auth=self._auth)
            await self.budget.observe(response)
        error = classify(response)
        if error is not None:
            raise error
        return response

    async def _read(self, request: httpx.Request) -> httpx.Response:
        return await with_retry(lambda: self._checked(request), self._retry)

    async def _checked(self, request: httpx.Request) -> httpx.Response:
        response = await self._send(request)
        try:
            response.json()
        except ValueError:
            raise TransientError("Canvas answered with malformed JSON", status=response.status_code) from None
        return response

    async def get(self, path: str, params: Form = ()) -> Any:
        """One object; transient failures are retried per the read policy."""
        return (await self._read(self._request("GET", path, params=params))).json()

    async def pages(self, path: str, params: Form = ()) -> AsyncIterator[list[Any]]:
        """Each page of a list, following `Link: <...>; rel="next"`."""
        request = self._request("GET", path, params=[*params, ("per_page", self._per_page)])
        host = request.url.host
        async for _, items in paginate(self._read, request, NextLink(host), _items):
            yield list(items)

    async def every(self, model: type[M], path: str, params: Form = ()) -> list[M]:
        found: list[M] = []
        async for page in self.pages(path, params):
            found += [parse(model, item, path) for item in page]
        return found

    async def write(self, method: str, path: str, form: Form | None = None, params: Form = ()) -> Any:
        """A call that changes state, sent once: the executor retries after re-reading."""
        response = await self._send(self._request(method, path, params=params, form=form))
        try:
            return response.json()
        except ValueError:
            return None

    async def one(self, model: type[M], path: str, params: Form = ()) -> M:
        return parse(model, await self.get(path, params), path)

    async def written(self, model: type[M], method: str, path: str, form: Form | None = None, **kw: Any) -> M:
        return parse(model, await self.write(method, path, form, **kw), path)


def _items(response: httpx.Response) -> Sequence[Any]:
    body = response.json()
    if not isinstance(body, list):
        raise PermanentError("a Canvas list answered with something other than a list")
    return body


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
