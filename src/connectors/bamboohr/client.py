"""Thin typed calls to the two BambooHR endpoints the source reads, with read retries and error mapping.

- `GET v1/employees/changed?since=`: ids changed since an instant (the delta feed).
- `POST v2/datasets/{dataset}/data`: rows with any field, page numbers in the JSON body (`page`, `pageSize`,
  `meta.totalPages`); https://documentation.bamboohr.com/reference/get-data-from-dataset-v2.
  Chosen over `GET v1/employees`, which cannot return termination date, employee number or custom fields, and
  over custom reports, which need a report saved in the UI.
Paths are relative to the connection's base URL (gateway `.../gateway.php/{domain}/` or company `.../api/`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.models import ChangedEmployees, DatasetPage, DatasetRow
from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.kit.auth import ApiKeyBasic
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.instants import format_instant
from enrolsync.connectors.kit.paginate import paginate
from enrolsync.connectors.kit.retry import with_retry

CHANGED_PATH = "v1/employees/changed"
DATASET_PATH = "v2/datasets/{dataset}/data"
_REASON_LIMIT = 200
M = TypeVar("M", bound=BaseModel)


def classify(response: httpx.Response) -> ConnectorError | None:
    """BambooHR's error mapping: the kit's statuses (429/503 + Retry-After transient, 401/403 auth), with the
    reason taken from `x-bamboohr-error-message` (older endpoints answer with an empty body) or from the
    `ProblemDetailsResponse` body newer ones send (both in BambooHR's OpenAPI document). Throttling is a 503 or
    429 with `Retry-After` (https://github.com/BambooHR/bhr-api-python README, "Rate Limiting")."""
    if response.status_code < 400:
        return None
    return default_classify(response, _reason(response))


def _reason(response: httpx.Response) -> str:
    header = str(response.headers.get("x-bamboohr-error-message") or response.headers.get("x-bamboohr-message") or "")
    if header:
        return header.strip()[:_REASON_LIMIT]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        for text in (body.get("detail"), body.get("title"), error.get("message") if isinstance(error, dict) else None):
            if isinstance(text, str) and text.strip():
                return text.strip()[:_REASON_LIMIT]
    return response.reason_phrase or "error"


def server_time(response: httpx.Response) -> datetime | None:
    """The remote clock from the `Date` header: checkpoints use it so our clock's skew cannot lose changes."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _parse(response: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        # Mostly a body cut off in transit: transient, so the request is sent again (`_fetch`).
        raise TransientError(f"malformed {model.__name__} response", status=response.status_code) from exc


def or_filter(field: str, values: Sequence[str]) -> str:
    """An OData filter matching any of `values`. Multi-value `in` is refused on non-list fields (422), and an
    expression may use `or` or `and` but not both, so ids are chained with `or`."""
    return " or ".join(f"{field} eq {_literal(value)}" for value in values)


def _literal(value: str) -> str:
    return value if value.isdigit() else "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class DatasetBatch:
    """One dataset page as read: its rows, its number, whether it is the last, and the server's clock."""

    rows: list[DatasetRow]
    page: int
    last: bool
    server_time: datetime | None


def _is_last(page: DatasetPage) -> bool:
    return not page.data or page.meta.page >= page.meta.total_pages


@dataclass(frozen=True)
class _BodyPageNumber:
    """Page numbers carried in the JSON body. The next page follows the page the server says it sent, so a
    server stuck on one page repeats a request and trips the kit's loop guard instead of looping forever."""

    make: Callable[[int], httpx.Request]

    def first(self, request: httpx.Request) -> httpx.Request:
        return request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        page: DatasetPage = items[0]
        return None if _is_last(page) else self.make(page.meta.page + 1)


class BambooHRClient:
    def __init__(self, http: httpx.AsyncClient, config: BambooHRConfig, retry: ReadRetryPolicy) -> None:
        self._http = http
        self._config = config
        self._retry = retry
        # Applied per request: the connector owns its vendor's auth, whatever client the engine hands it.
        self._auth = ApiKeyBasic(config.api_key)

    async def changed_since(self, since: datetime) -> tuple[ChangedEmployees, datetime | None]:
        """Employees changed after `since`, and the server's clock at the answer."""
        request = self._http.build_request(
            "GET", CHANGED_PATH, params={"since": format_instant(since)}, headers={"Accept": "application/json"}
        )
        response, changed = await self._fetch(request, ChangedEmployees)
        return changed, server_time(response)

    async def dataset(self, *, where: str | None, page_size: int, start_page: int = 1) -> AsyncIterator[DatasetBatch]:
        """Dataset rows page by page, ordered by employee id, from `start_page`."""

        def make(page: int) -> httpx.Request:
            return self._dataset_request(where=where, page=page, page_size=page_size)

        parsed: dict[int, DatasetPage] = {}

        async def send(request: httpx.Request) -> httpx.Response:
            response, page = await self._fetch(request, DatasetPage)
            parsed[id(response)] = page
            return response

        def extract(response: httpx.Response) -> Sequence[DatasetPage]:
            # The whole parsed page is the one "item", so the paginator reads `meta` without parsing twice.
            return (parsed.pop(id(response)),)

        async for response, items in paginate(send, make(start_page), _BodyPageNumber(make), extract):
            page: DatasetPage = items[0]
            asked = json.loads(response.request.content).get("page")
            if page.meta.page != asked:
                # Following the page the server named would skip (or repeat) people silently, and a full read
                # takes whoever it did not see for a leaver.
                raise PermanentError(
                    f"inconsistent paging (a pagination loop or a skipped page): asked for page {asked}, "
                    f"the server answered page {page.meta.page}"
                )
            yield DatasetBatch(page.data, page.meta.page, _is_last(page), server_time(response))

    async def dataset_probe(self) -> DatasetPage:
        """One row with every configured field: proves the key, the dataset permission and the field names."""
        _, page = await self._fetch(self._dataset_request(where=None, page=1, page_size=1), DatasetPage)
        return page

    def _dataset_request(self, *, where: str | None, page: int, page_size: int) -> httpx.Request:
        names = self._config.fields
        body: dict[str, Any] = {
            "fields": names.requested(),
            "orderBy": f"{names.hr_id} asc",
            "page": page,
            "pageSize": page_size,
        }
        if where:
            body["filter"] = where
        path = DATASET_PATH.format(dataset=self._config.dataset)
        return self._http.build_request("POST", path, json=body, headers={"Accept": "application/json"})

    async def _fetch(self, request: httpx.Request, model: type[M]) -> tuple[httpx.Response, M]:
        """Send and parse, retried together: a body cut off in transit is answered again by asking again, as a
        timeout is, instead of failing the run."""

        async def attempt() -> tuple[httpx.Response, M]:
            response = await self._send_once(request)
            return response, _parse(response, model)

        return await with_retry(attempt, self._retry)

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth)
        error = classify(response)
        if error is not None:
            raise error
        return response
