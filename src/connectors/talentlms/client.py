"""Thin typed calls to the TalentLMS v2 endpoints the target uses, with read retries and error mapping.

Paths (relative to the portal's base URL) are the published document's: `api/v2/users`, `api/v2/users/{id}`,
`api/v2/courses`, `api/v2/courses/{id}`, `api/v2/enrollments`, `api/v2/course-progress`, `api/v2/groups`,
`api/v2/group-memberships`, `api/v2/branches`, `api/v2/branch-users`. Every call carries `X-API-Key`,
`X-API-Version` and `Accept: application/json`. Reads are retried (the kit's policy); writes never are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.kit.auth import ApiKeyHeader
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.paginate import PageNumber, paginate
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.talentlms.config import TalentLMSConfig

PAGE_SIZE = 100  # the most TalentLMS answers per page
_REASON_LIMIT = 200
M = TypeVar("M", bound=BaseModel)


def reason(response: httpx.Response) -> str:
    """The message of TalentLMS's error body `{"error": {"type", "message"}}` (or a bare `{"error": "..."}`)."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    if isinstance(error, str) and error.strip():
        return error.strip()[:_REASON_LIMIT]
    return response.reason_phrase or "error"


def classify(response: httpx.Response) -> ConnectorError | None:
    """TalentLMS's statuses as its API document lists them (https://developers.talentlms.io, "API Responses"):
    400 a missing or mistyped parameter (and uniqueness), 401 a bad key, 403 the API is off or the domain
    inactive, 404 no such object, 429 over the rate limit, 500 internal. The kit's mapping fits them as they are."""
    return default_classify(response, reason(response)) if response.status_code >= 400 else None


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a cut-off or non-JSON answer is transient (the next try may be whole)."""
    try:
        body = response.json()
    except ValueError:
        raise TransientError("TalentLMS answered with a body that is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise PermanentError("TalentLMS answered with a body that is not a JSON object", status=response.status_code)
    return body


def _has_next(response: httpx.Response) -> bool:
    links = body_of(response).get("_links") or {}
    return bool(links.get("next"))


class TalentLMSClient:
    def __init__(self, http: httpx.AsyncClient, config: TalentLMSConfig, retry: ReadRetryPolicy) -> None:
        self._http = http
        self._retry = retry
        self._auth = ApiKeyHeader("X-API-Key", config.api_key)
        self._headers = {"X-API-Version": config.api_version, "Accept": "application/json"}

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth)
        error = classify(response)
        if error is not None:
            raise error
        return response

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Request:
        return self._http.build_request(method, path, params=params, json=body, headers=self._headers)

    async def get(self, path: str, model: type[M], **params: Any) -> M:
        """One object (`_data`), retried on transient failures."""

        async def call() -> M:
            return _parse(model, body_of(await self._send(self._request("GET", path, params=params or None))))

        return await with_retry(call, self._retry)

    async def total(self, path: str) -> int | None:
        """How many items a list holds (`_meta.pagination.total_items`), for one call; None if not said."""
        _, _, meta = await self._first_page(path)
        total = meta.get("total_items")
        return total if isinstance(total, int) else None

    async def _first_page(self, path: str) -> tuple[list[Any], httpx.Headers, dict[str, Any]]:
        async def call() -> httpx.Response:
            response = await self._send(self._request("GET", path, params={"page[number]": 1, "page[size]": 1}))
            body_of(response)
            return response

        response = await with_retry(call, self._retry)
        body = body_of(response)
        meta = (body.get("_meta") or {}).get("pagination") or {}
        return list(body.get("_data") or []), response.headers, meta if isinstance(meta, dict) else {}

    async def first(self, path: str, model: type[M]) -> tuple[list[M], httpx.Headers]:
        """The first item of a list, and the answer's headers (the rate-limit budget left)."""
        items, headers, _ = await self._first_page(path)
        try:
            return TypeAdapter(list[model]).validate_python(items), headers  # type: ignore[valid-type]
        except ValidationError as error:
            raise PermanentError(f"TalentLMS answered an unexpected list ({error.error_count()} errors)") from None

    async def pages(self, path: str, model: type[M], **params: Any) -> AsyncIterator[list[M]]:
        """Every page of a list, 100 at a time, each page read with retries."""
        paginator = PageNumber(size=PAGE_SIZE, page_param="page[number]", size_param="page[size]", has_next=_has_next)

        async def send(request: httpx.Request) -> httpx.Response:
            async def call() -> httpx.Response:
                response = await self._send(request)
                body_of(response)  # a malformed page is retried like a dropped one
                return response

            return await with_retry(call, self._retry)

        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
        first = self._request("GET", path, params=params or None)
        async for _, items in paginate(send, first, paginator, lambda r: body_of(r).get("_data") or []):
            try:
                yield adapter.validate_python(items)
            except ValidationError as error:
                raise PermanentError(f"TalentLMS answered an unexpected list ({error.error_count()} errors)") from None

    async def write(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        """One write, never retried here (the executor re-reads and retries ops that came back `retry`)."""
        return await self._send(self._request(method, path, body=body))


def _parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body.get("_data"))
    except ValidationError as error:
        raise PermanentError(f"TalentLMS answered an unexpected body ({error.error_count()} errors)") from None
