"""Thin typed calls to SuccessFactors' OData v2 API, with auth, read retries, error mapping and page guards.

Every call is `GET {base}/{Entity}?$format=json&...` (base = the tenant's `/odata/v2/` root). Lists are paged by the
server: an answer with more to come carries `d.__next`, a URL with a `$skiptoken`, followed as given (same origin
only: the request carries our credentials). The first request asks `$inlinecount=allpages` and `paging=snapshot`
(a result fixed at the first request, SAP KBA 2920680), so a page the server skips shows as fewer records than
`__count` and a page it repeats as a record seen twice; either stops the read rather than act on a wrong company.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.kit.auth import Basic
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.oauth2 import ClientCredentials
from enrolsync.connectors.kit.paginate import paginate
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.models import Envelope, ErrorBody, Results
from enrolsync.connectors.successfactors.saml import GRANT_TYPE, signed_assertion

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
THROTTLE_WAIT = 300.0
"""SAP's advice on a 429 without `Retry-After`: retry after 300 s (KBA 3308165)."""
_REASON_LIMIT = 200
Key = Callable[[Mapping[str, Any]], str]


def classify(response: httpx.Response) -> ConnectorError | None:
    """SuccessFactors' error mapping, in one place: the kit's statuses (401 bad credentials or token, 403 a missing
    permission, 404 an unknown entity, 400 a bad query, 429 and 5xx transient) with the reason from SF's OData error
    `{"error": {"code", "message": {"lang", "value"}}}`; a 429 without `Retry-After` waits SAP's 300 s."""
    if response.status_code < 400:
        return None
    error = default_classify(response, _reason(response))
    if isinstance(error, TransientError) and response.status_code == 429 and error.retry_after is None:
        error.retry_after = THROTTLE_WAIT
    return error


def _reason(response: httpx.Response) -> str:
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return response.reason_phrase or "error"
    message = body.error.message
    text = message.value if not isinstance(message, str) and message is not None else message
    text = text or body.error.code
    return text.strip()[:_REASON_LIMIT] if text and text.strip() else response.reason_phrase or "error"


def server_time(response: httpx.Response) -> datetime | None:
    """The remote clock from `Date`: checkpoints and `today` use it, so our clock's skew cannot lose changes."""
    value = response.headers.get("Date")
    try:
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


class SamlBearer(ClientCredentials):
    """OAuth 2.0 SAML bearer grant (RFC 7522) as SF takes it: `POST /oauth/token` form-encoded with `company_id`,
    `client_id`, `grant_type` and a freshly signed `assertion`; the kit's token handling does the rest (one token
    per connector instance, refreshed before it expires and once on a 401)."""

    def __init__(self, token_url: httpx.URL, config: SuccessFactorsConfig, recipient: str, clock: Clock) -> None:
        # The config's validator makes both present for `oauth_saml`; empty values would only be refused by SF.
        super().__init__(token_url, config.client_id or "", config.private_key or SecretStr(""), classify=classify,
                         clock=clock)  # fmt: skip
        self._config = config
        self._recipient = recipient

    def _token_request(self) -> httpx.Request:
        config, key = self._config, self._secret
        assertion = signed_assertion(
            user=config.api_user, client_id=self._client_id, recipient=self._recipient,
            private_key=key.get_secret_value(), certificate=config.certificate, now=datetime.now(UTC),
        )  # fmt: skip
        form = {"company_id": config.company_id, "client_id": self._client_id, "grant_type": GRANT_TYPE,
                "assertion": assertion}  # fmt: skip
        return httpx.Request("POST", self._url, data=form, headers={"Accept": "application/json"})


@dataclass(frozen=True)
class _NextLink:
    """Follow `d.__next`; the kit's loop guard raises when a link comes back twice."""

    def first(self, request: httpx.Request) -> httpx.Request:
        return request

    def next(self, request: httpx.Request, response: httpx.Response, items: Sequence[Any]) -> httpx.Request | None:
        page: Results = items[0]
        if not page.next:
            return None
        return httpx.Request("GET", same_origin(request.url, page.next), headers=request.headers)


def same_origin(base: httpx.URL, href: str) -> httpx.URL:
    url = base.join(href)
    if (url.scheme, url.host) != (base.scheme, base.host):
        raise PermanentError(f"SuccessFactors' next link leaves {base.host}; not followed")
    return url


@dataclass(frozen=True)
class ODataPage:
    records: list[dict[str, Any]]
    next_url: str | None
    count: int | None
    server_time: datetime | None


class SuccessFactorsClient:
    def __init__(
        self, http: httpx.AsyncClient, config: SuccessFactorsConfig, retry: ReadRetryPolicy, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._http = http
        self._config = config
        self._retry = retry
        self.last_server_time: datetime | None = None
        # Applied per request: the connector owns its vendor's auth, whatever client the engine hands it.
        self.auth: httpx.Auth
        if config.auth == "basic":
            self.auth = Basic(f"{config.api_user}@{config.company_id}", config.password or SecretStr(""))
        else:
            root = str(http.base_url).rstrip("/")
            self.auth = SamlBearer(http.base_url.join(TOKEN_PATH), config, root, clock)

    def _get(self, path_or_url: str, params: Mapping[str, str] | None = None) -> httpx.Request:
        query = {"$format": "json", **(params or {})} if params is not None else None
        return self._http.build_request("GET", path_or_url, params=query, headers={"Accept": "application/json"})

    async def pages(
        self, entity: str, params: Mapping[str, str], *, key: Key, resume: str | None = None, seen: int = 0,
        total: int | None = None,
    ) -> AsyncIterator[ODataPage]:  # fmt: skip
        """An entity's records page by page, from the first page or from a `__next` URL of an earlier read (with
        the records it had `seen` of `total`). Raises `PermanentError` when a page is repeated or skipped."""
        # `__count` counts the whole result, not a `$top`/`$skip` slice: only a whole result can be checked, and
        # only a whole result is paged by snapshot.
        whole = "$top" not in params and "$skip" not in params
        if resume:
            first = self._get(str(same_origin(self._http.base_url, resume)))
        else:
            paging = {"$inlinecount": "allpages", **({"paging": "snapshot"} if whole else {})}
            first = self._get(entity, {**params, **paging})
        keys: set[str] = set()
        async for response, items in paginate(self._send, first, _NextLink(), _extract):
            page: Results = items[0]
            total = total if page.count is None or not whole else _count(page.count)
            for record in page.results:
                marker = key(record)
                if marker in keys:
                    raise PermanentError(f"SuccessFactors repeated a page of {entity} ({marker} twice); read stopped")
                keys.add(marker)
            seen += len(page.results)
            if not page.next and total is not None and seen != total:
                raise PermanentError(
                    f"SuccessFactors paged {seen} {entity} records of the {total} it counted (a page was skipped "
                    "or the data changed under a snapshot); read stopped"
                )
            yield ODataPage(page.results, page.next if page.results else None, total, server_time(response))

    async def records(self, entity: str, params: Mapping[str, str], *, key: Key) -> list[dict[str, Any]]:
        """Every record of a (small) query, all pages."""
        return [record async for page in self.pages(entity, params, key=key) for record in page.records]

    async def probe(self) -> None:
        """One user: proves reachability, the credentials and the permission to read users."""
        await self._send(self._get("User", {"$top": "1", "$select": "userId"}))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return await with_retry(lambda: self._send_once(request), self._retry)

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self.auth)
        error = classify(response)
        if error is not None:
            raise error
        self.last_server_time = server_time(response) or self.last_server_time
        return response


def _count(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _extract(response: httpx.Response) -> Sequence[Results]:
    try:
        return (Envelope.model_validate_json(response.content).d,)
    except ValidationError as exc:
        # Mostly a body cut off in transit; the request is retried.
        raise TransientError("malformed OData response", status=response.status_code) from exc
