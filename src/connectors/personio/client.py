"""Thin typed calls to Personio's v2 persons and employments endpoints, with auth, read retries and errors.

- `POST v2/auth/token` (form-encoded client credentials) through `kit.oauth2.ClientCredentials`.
- `GET v2/persons` and `GET v2/persons/{id}/employments`: `limit` <= 50, filters such as `updated_at.gt`,
  pages chained through `_meta.links.next.href` (resolved against the base URL: a relative link works too).
- `GET v2/persons/{id}`: one person; 404 means Personio does not know (or no longer has) them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import ConnectorError, NotFound, PermanentError, TransientError
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.oauth2 import ClientCredentials
from enrolsync.connectors.kit.paginate import paginate
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.models import EmploymentWire, ListPage, PersonWire, Problem

TOKEN_PATH = "v2/auth/token"  # noqa: S105 - a path, not a secret
PERSONS_PATH = "v2/persons"
_REASON_LIMIT = 200
M = TypeVar("M", bound=BaseModel)


def classify(response: httpx.Response) -> ConnectorError | None:
    """Personio's error mapping, in one place: the kit's statuses (429 and 5xx transient with `Retry-After`,
    401/403 auth, 404 not found, 400/422 invalid) with the reason from the v2 problem body
    `{"errors": [{"title", "detail"}]}` (https://developer.personio.de/reference/errors). Personio documents
    429 as its only throttle signal (https://developer.personio.de/docs/rate-limits)."""
    if response.status_code < 400:
        return None
    return default_classify(response, _reason(response))


def _reason(response: httpx.Response) -> str:
    try:
        problem = Problem.model_validate_json(response.content)
    except ValidationError:
        return response.reason_phrase or "error"
    for item in problem.errors:
        text = item.detail or item.details or item.title
        if text and text.strip():
            return text.strip()[:_REASON_LIMIT]
    return response.reason_phrase or "error"


def server_time(response: httpx.Response) -> datetime | None:
    """The remote clock from `Date`: checkpoints use it so our clock's skew cannot lose changes."""
    value = response.headers.get("Date")
    try:
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


def _parse(response: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        # Mostly a body cut off in transit; the read is retried from its last checkpoint.
        raise TransientError(f"malformed {model.__name__} response", status=response.status_code) from exc


@dataclass(frozen=True)
class _NextLink:
    """Follow `_meta.links.next.href`; the kit's loop guard raises when a cursor comes back twice."""

    def first(self, request: httpx.Request) -> httpx.Request:
        return request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        page: ListPage[Any] = items[0]
        if not page.next_href or not page.data:
            return None
        return httpx.Request("GET", same_origin(request.url, page.next_href), headers=request.headers)


def same_origin(base: httpx.URL, href: str) -> httpx.URL:
    """`href` resolved against `base`; refused when it leaves base's scheme and host, since the request
    carries our bearer token wherever the link points."""
    url = base.join(href)
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        raise PermanentError(f"Personio's next link leaves {base.host}; not followed")
    return url


@dataclass(frozen=True)
class PersonsPage:
    persons: list[PersonWire]
    next_href: str | None
    server_time: datetime | None


class PersonioClient:
    def __init__(
        self, http: httpx.AsyncClient, config: PersonioConfig, retry: ReadRetryPolicy, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._http = http
        self._config = config
        self._retry = retry
        token_url = http.base_url.join(TOKEN_PATH)
        # Applied per request: the connector owns its vendor's auth, whatever client the engine hands it.
        self.auth = ClientCredentials(token_url, config.client_id, config.client_secret, classify=classify, clock=clock)

    def _get(self, path_or_url: str, params: Mapping[str, str | int] | None = None) -> httpx.Request:
        return self._http.build_request("GET", path_or_url, params=params, headers={"Accept": "application/json"})

    async def persons(
        self, *, filters: Mapping[str, str] | None = None, start_href: str | None = None
    ) -> AsyncIterator[PersonsPage]:
        """Persons page by page, from the first page (with `filters`) or from a `next` link of an earlier read."""
        if start_href:
            first = self._get(str(same_origin(self._http.base_url, start_href)))
        else:
            first = self._get(PERSONS_PATH, self._list_params(filters))
        async for response, items in paginate(self._send, first, _NextLink(), _extract_persons):
            page: ListPage[PersonWire] = items[0]
            yield PersonsPage(page.data, page.next_href, server_time(response))

    async def person(self, person_id: str) -> PersonWire | None:
        try:
            response = await self._send(self._get(f"{PERSONS_PATH}/{_segment(person_id)}"))
        except NotFound:
            return None
        return _parse(response, PersonWire)

    async def employments(self, person_id: str, *, updated_after: str | None = None) -> list[EmploymentWire]:
        filters = {"updated_at.gt": updated_after} if updated_after else None
        first = self._get(f"{PERSONS_PATH}/{_segment(person_id)}/employments", self._list_params(filters))
        found: list[EmploymentWire] = []
        async for _, items in paginate(self._send, first, _NextLink(), _extract_employments):
            found.extend(items[0].data)
        return found

    async def probe(self) -> datetime | None:
        """One person: proves the credentials, the scope `personio:persons:read`, and reachability."""
        response = await self._send(self._get(PERSONS_PATH, {"limit": 1}))
        return server_time(response)

    def _list_params(self, filters: Mapping[str, str] | None) -> dict[str, str | int]:
        return {"limit": self._config.page_size, **(filters or {})}

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return await with_retry(lambda: self._send_once(request), self._retry)

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self.auth)
        error = classify(response)
        if error is not None:
            raise error
        return response


def _segment(value: str) -> str:
    # Ids come from Personio or a webhook body: escaped, so none can reach another path.
    return quote(value, safe="")


def _extract_persons(response: httpx.Response) -> Sequence[ListPage[PersonWire]]:
    return (_parse(response, ListPage[PersonWire]),)


def _extract_employments(response: httpx.Response) -> Sequence[ListPage[EmploymentWire]]:
    return (_parse(response, ListPage[EmploymentWire]),)
