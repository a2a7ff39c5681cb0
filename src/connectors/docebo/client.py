"""Thin typed calls to the Docebo endpoints the target uses, with OAuth2, read retries and error mapping.

Paths (relative to the platform's base URL): `oauth2/token`, `manage/v1/user` (list, create), `manage/v1/user/{id}`,
`manage/v1/user/change_status`, `manage/v1/user/batch`, `learn/v1/courses`, `learn/v1/enrollments`,
`learn/v1/enrollment/batch`, `learn/v1/enrollments/{course}/{user}`, `manage/v1/orgchart`,
`manage/v1/orgchart/{branch}/users`. Reads are retried (the kit's policy); writes never are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.oauth2 import ClientCredentials
from enrolsync.connectors.kit.paginate import PageNumber, paginate
from enrolsync.connectors.kit.retry import with_retry

PAGE_SIZE = 200  # the most Docebo answers per page
TOKEN_PATH = "oauth2/token"  # noqa: S105 (a path, not a secret)
_REASON_LIMIT = 200
M = TypeVar("M", bound=BaseModel)


def reason(response: httpx.Response) -> str:
    """The message of Docebo's error body `{"name", "message": [...] | "...", "code", "status"}`, or of an
    OAuth2 error (`error_description`)."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error")
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        if isinstance(message, str) and message.strip():
            return message.strip()[:_REASON_LIMIT]
    return response.reason_phrase or "error"


def classify(response: httpx.Response) -> ConnectorError | None:
    """Docebo's statuses: 400 a refused body (validation, uniqueness), 401 a bad or expired token, 403 a client
    without the permission, 404 no such object, 429 over the rate limit (leaky bucket), 5xx transient. The kit's
    mapping fits them; a token endpoint's 400 `invalid_client` becomes an `AuthError` in `kit.oauth2`."""
    return default_classify(response, reason(response)) if response.status_code >= 400 else None


def data_of(response: httpx.Response) -> Any:
    """`data` of a 2xx answer; a cut-off or non-JSON answer is transient (the next try may be whole)."""
    try:
        body = response.json()
    except ValueError:
        raise TransientError("Docebo answered with a body that is not JSON", status=response.status_code) from None
    if not isinstance(body, dict) or "data" not in body:
        raise PermanentError("Docebo answered without a data member", status=response.status_code)
    return body["data"]


def _items(response: httpx.Response) -> list[Any]:
    data = data_of(response)
    return list(data.get("items") or []) if isinstance(data, dict) else []


def _has_more(response: httpx.Response) -> bool:
    data = data_of(response)
    return bool(data.get("has_more_data")) if isinstance(data, dict) else False


class DoceboClient:
    def __init__(
        self, http: httpx.AsyncClient, config: DoceboConfig, retry: ReadRetryPolicy, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._http = http
        self._retry = retry
        token_url = http.base_url.join(TOKEN_PATH)
        self.auth = ClientCredentials(token_url, config.client_id, config.client_secret, classify=classify, clock=clock)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self.auth)
        error = classify(response)
        if error is not None:
            raise error
        return response

    def _request(self, method: str, path: str, *, params: Any = None, body: Any = None) -> httpx.Request:
        return self._http.build_request(method, path, params=params, json=body, headers={"Accept": "application/json"})

    async def get(self, path: str, model: type[M], key: str | None = None) -> M:
        """One object (`data`, or `data[key]`), retried on transient failures."""

        async def call() -> M:
            data = data_of(await self._send(self._request("GET", path)))
            return _parse(model, data.get(key) if key and isinstance(data, dict) else data)

        return await with_retry(call, self._retry)

    async def first(self, path: str, model: type[M]) -> tuple[list[M], int | None]:
        """The first item of a list and how many the list holds (`total_count`), in one call."""

        async def call() -> Any:
            return data_of(await self._send(self._request("GET", path, params={"page": 1, "page_size": 1})))

        data = await with_retry(call, self._retry)
        items = data.get("items") if isinstance(data, dict) else None
        total = data.get("total_count") if isinstance(data, dict) else None
        try:
            parsed = TypeAdapter(list[model]).validate_python(items or [])  # type: ignore[valid-type]
        except ValidationError as error:
            raise PermanentError(f"Docebo answered an unexpected list ({error.error_count()} errors)") from None
        return parsed, total if isinstance(total, int) else None

    async def pages(self, path: str, model: type[M], **params: Any) -> AsyncIterator[list[M]]:
        """Every page of a list, 200 at a time, each page read with retries."""
        paginator = PageNumber(size=PAGE_SIZE, has_next=_has_more)

        async def send(request: httpx.Request) -> httpx.Response:
            async def call() -> httpx.Response:
                response = await self._send(request)
                data_of(response)  # a malformed page is retried like a dropped one
                return response

            return await with_retry(call, self._retry)

        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
        async for _, items in paginate(send, self._request("GET", path, params=params or None), paginator, _items):
            try:
                yield adapter.validate_python(items)
            except ValidationError as error:
                raise PermanentError(f"Docebo answered an unexpected list ({error.error_count()} errors)") from None

    async def write(self, method: str, path: str, body: Any) -> Any:
        """One write, never retried here (the executor re-reads and retries ops that came back `retry`)."""
        return data_of(await self._send(self._request(method, path, body=body)))


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise PermanentError(f"Docebo answered an unexpected body ({error.error_count()} errors)") from None
