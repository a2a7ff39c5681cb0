"""Thin typed calls to the three HiBob endpoints the source uses, with read retries and error mapping.

- `POST people/search`: everyone in one answer, no pagination; the answer is parsed as a stream (ijson), one
  employee at a time, never held whole (https://apidocs.hibob.com/reference/post_people-search).
- `POST people/{identifier}`: one employee by backend id or email
  (https://apidocs.hibob.com/reference/post_people-identifier).
- `GET company/people/fields`: field metadata (id, category); needs no permission, so `check` learns from it
  which category a missing field belongs to.
Paths are relative to the connection's base URL (`https://api.hibob.com/v1/`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import ijson
from pydantic import TypeAdapter, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import ConnectorError, TransientError
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.models import Employee, FieldMeta
from enrolsync.connectors.kit.auth import Basic
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.retry import with_retry

SEARCH_PATH = "people/search"
PERSON_PATH = "people/{identifier}"
FIELDS_PATH = "company/people/fields"
_REASON_LIMIT = 200
_FIELDS = TypeAdapter(list[FieldMeta])


def classify(response: httpx.Response) -> ConnectorError | None:
    """HiBob's error mapping, in one place: the kit's statuses (429 past a per-endpoint budget, people/search
    50 req/min, https://apidocs.hibob.com/reference/rate-limiting; 5xx transient; 401 bad service user, 403 a
    permission the service user lacks; 404 no such employee; 400 a bad filter or field), with the reason from
    Bob's error body `{"key", "error"}`. Repeated 401/403 trip Bob's WAF, which is one more reason a refused
    check is reported, never retried."""
    if response.status_code < 400:
        return None
    return default_classify(response, _reason(response))


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "key"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_REASON_LIMIT]
    return response.reason_phrase or "error"


def server_time(response: httpx.Response) -> datetime | None:
    """The remote clock from the `Date` header, so `today` is Bob's day, not ours."""
    value = response.headers.get("Date")
    try:
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


class _Body:
    """The file-like reader ijson's async parser wants, over httpx's streamed body (chunks of any size; an offset,
    not re-slicing, so a large chunk is not copied once per read)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._at = 0

    async def read(self, size: int = -1) -> bytes:
        if self._at >= len(self._chunk):
            self._chunk, self._at = await anext(self._chunks, b""), 0
        end = len(self._chunk) if size < 0 else self._at + size
        data = self._chunk[self._at : end]
        self._at += len(data)
        return data


class HiBobClient:
    def __init__(self, http: httpx.AsyncClient, config: HiBobConfig, retry: ReadRetryPolicy) -> None:
        self._http = http
        self._config = config
        self._retry = retry
        # Applied per request: the connector owns its vendor's auth, whatever client the engine hands it.
        self._auth = Basic(config.service_user_id, config.service_user_token)
        self.last_server_time: datetime | None = None

    def _read_body(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"fields": self._config.fields.requested(), **(extra or {})}
        if self._config.human_readable != "NONE":
            body["humanReadable"] = self._config.human_readable
        return body

    async def search(self) -> AsyncGenerator[Employee, None]:
        """Every employee the service user may see, active and not (`showInactive`), one at a time.

        One request: a failure mid-body raises `TransientError` and the caller's run is retried whole, since
        HiBob offers no point to resume from. Close the iterator (`aclosing`) to stop early."""
        request = self._http.build_request(
            "POST", SEARCH_PATH, json=self._read_body({"showInactive": True}), headers={"Accept": "application/json"}
        )
        response = await with_retry(lambda: self._open(request), self._retry)
        try:
            async with transport_errors():
                async for employee in ijson.items_async(
                    _Body(response.aiter_bytes()), "employees.item", use_float=True
                ):
                    if isinstance(employee, dict):
                        yield employee
        except ijson.JSONError as exc:
            raise TransientError("malformed people/search response (cut off in transit?)") from exc
        finally:
            await response.aclose()

    async def read_one(self, identifier: str) -> Employee | None:
        """One employee by backend id, or None when Bob knows no such id (404)."""
        path = PERSON_PATH.format(identifier=quote(identifier, safe="@"))
        request = self._http.build_request("POST", path, json=self._read_body(), headers={"Accept": "application/json"})
        response = await with_retry(lambda: self._send(request, missing_ok=True), self._retry)
        if response.status_code == 404:
            return None
        body = self._json(response)
        # The document wraps the employee in `employees`; a bare employee object is read too.
        if isinstance(body, dict) and isinstance(body.get("employees"), list):
            found = [e for e in body["employees"] if isinstance(e, dict)]
            return found[0] if found else None
        return body if isinstance(body, dict) else None

    async def fields(self) -> Sequence[FieldMeta]:
        request = self._http.build_request("GET", FIELDS_PATH, headers={"Accept": "application/json"})
        response = await with_retry(lambda: self._send(request), self._retry)
        try:
            return _FIELDS.validate_json(response.content)
        except ValidationError as exc:
            raise TransientError("malformed fields metadata response", status=response.status_code) from exc

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError("malformed employee response", status=response.status_code) from exc

    async def _open(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth, stream=True)
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
        error = classify(response)
        if error is not None:
            raise error
        self.last_server_time = server_time(response)
        return response

    async def _send(self, request: httpx.Request, *, missing_ok: bool = False) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth)
        if missing_ok and response.status_code == 404:
            return response
        error = classify(response)
        if error is not None:
            raise error
        self.last_server_time = server_time(response)
        return response
