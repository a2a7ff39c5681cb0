"""Thin calls to Workday: the SOAP `Get_Workers` page by page, and a RaaS report streamed row by row.

- SOAP: `POST {host}/ccx/service/{tenant}/Human_Resources/{version}` with a Get_Workers envelope (`soap.py`).
  Pages are numbered (`Response_Filter/Page`, 1-based) and the answer says `Total_Pages` and `Total_Results`;
  every page of one read pins the same `As_Of_Entry_DateTime`, so the result set stays put.
- RaaS: `GET {host}/ccx/service/customreport2/{tenant}/{owner}/{report}?format=json&<prompts>`: the whole report in
  one answer `{"Report_Entry": [...]}` with no paging, parsed as a stream (ijson), one row at a time.
- Auth: HTTP Basic with the ISU (RaaS), a WS-Security UsernameToken `user@tenant` (SOAP), or a bearer token from
  the refresh-token grant at `/ccx/oauth2/{tenant}/token` (either API).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import ijson
from lxml import etree
from pydantic import SecretStr

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid, PermanentError, TransientError
from enrolsync.connectors.kit.auth import Basic
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import classify as default_classify
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.oauth2 import ClientCredentials
from enrolsync.connectors.kit.redaction import remote_text
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.workday import soap
from enrolsync.connectors.workday.config import WorkdayConfig

_REASON_LIMIT = 200


def classify(response: httpx.Response) -> ConnectorError | None:
    """Workday's error mapping, in one place. SOAP faults come with HTTP 500 (SOAP 1.1), so the fault code decides:
    `Client.authenticationError` is refused credentials, `Client.validationError` a request Workday will never
    take, other `Client` faults permanent; `Server` faults and 5xx without a fault are transient. Otherwise the
    kit's statuses (401 refused, 429/503 throttled, ...)."""
    if response.status_code < 400:
        return None
    fault = soap.read_fault(response.content) if b"Fault" in response.content else None
    if fault is None:
        return default_classify(response, _text(response))
    code, message = fault
    reason = remote_text(f"{code}: {message}"[:_REASON_LIMIT], response.request)
    code = code.split(":", 1)[-1]
    if code.startswith("Client.authentication"):
        return AuthError(reason, status=response.status_code)
    if code.startswith("Client.validation"):
        return Invalid(reason, status=response.status_code)
    if code.startswith("Client"):
        return PermanentError(reason, status=response.status_code)
    return TransientError(reason, status=response.status_code)


def _text(response: httpx.Response) -> str:
    body = response.content[:_REASON_LIMIT].decode(errors="replace").strip()
    return body if body and not body.startswith("<") else response.reason_phrase or "error"


def server_time(response: httpx.Response) -> datetime | None:
    """The remote clock from `Date`: cursors use Workday's time, so our clock's skew cannot lose changes."""
    value = response.headers.get("Date")
    try:
        return parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


class RefreshToken(ClientCredentials):
    """Workday's OAuth 2.0 refresh-token grant for an API client for integrations: `POST /ccx/oauth2/{tenant}/token`
    with `grant_type=refresh_token&refresh_token=...`, the client id and secret as HTTP Basic. The refresh token
    does not expire; access tokens are kept until shortly before they do and refreshed once on a 401."""

    def __init__(self, token_url: httpx.URL, config: WorkdayConfig, clock: Clock) -> None:
        super().__init__(token_url, config.client_id or "", config.client_secret or SecretStr(""), classify=classify,
                         clock=clock)  # fmt: skip
        self._refresh = config.refresh_token or SecretStr("")

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh.get_secret_value()}
        request = httpx.Request("POST", self._url, data=form, headers={"Accept": "application/json"})
        basic = httpx.BasicAuth(self._client_id, self._secret.get_secret_value())
        return next(basic.auth_flow(request))


class _Body:
    """The file-like reader ijson's async parser wants, over httpx's streamed body."""

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


class WorkdayClient:
    def __init__(
        self, http: httpx.AsyncClient, config: WorkdayConfig, retry: ReadRetryPolicy, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._http = http
        self._config = config
        self._retry = retry
        self.last_server_time: datetime | None = None
        # Applied per request: the connector owns its vendor's auth, whatever client the engine hands it. SOAP with
        # `basic` signs in inside the envelope, so it sends no HTTP auth at all.
        self.auth: httpx.Auth | None = None
        if config.auth == "oauth_refresh":
            self.auth = RefreshToken(http.base_url.join(f"/ccx/oauth2/{config.tenant}/token"), config, clock)
        elif config.api == "raas":
            self.auth = Basic(config.username or "", config.password or SecretStr(""))

    # -- SOAP -----------------------------------------------------------------------------------------------
    @property
    def soap_path(self) -> str:
        return f"/ccx/service/{self._config.tenant}/Human_Resources/{self._config.soap_version}"

    async def get_workers(self, **criteria: Any) -> soap.WorkersPage:
        """One Get_Workers page (`soap.get_workers` keywords). Raises `ConnectorError`s; retries transient ones."""
        config = self._config
        signed = config.auth == "basic"
        criteria.setdefault("count", config.page_size)
        body = soap.get_workers(
            version=config.soap_version,
            username=f"{config.username}@{config.tenant}" if signed else None,
            password=config.password.get_secret_value() if signed and config.password else None, **criteria,
        )  # fmt: skip
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
        request = self._http.build_request("POST", self.soap_path, content=body, headers=headers)
        return await with_retry(lambda: self._workers(request), self._retry)

    async def _workers(self, request: httpx.Request) -> soap.WorkersPage:
        response = await self._send(request)
        try:
            return soap.read_workers(response.content)
        except (etree.XMLSyntaxError, ValueError) as exc:
            # Mostly a body cut off in transit: asked again (a read changes nothing).
            raise TransientError("malformed Get_Workers response", status=response.status_code) from exc

    async def _send(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self.auth or httpx.USE_CLIENT_DEFAULT)
        error = classify(response)
        if error is not None:
            raise error
        self.last_server_time = server_time(response) or self.last_server_time
        return response

    # -- RaaS -----------------------------------------------------------------------------------------------
    def report_path(self) -> str:
        config = self._config
        owner, name = quote(config.report_owner or "", safe=""), quote(config.report_name or "", safe="")
        return f"/ccx/service/customreport2/{config.tenant}/{owner}/{name}"

    async def report_rows(self, prompts: Mapping[str, str]) -> AsyncGenerator[dict[str, Any], None]:
        """Every `Report_Entry` of the report, one at a time, parsed as the body streams in (constant memory).

        One request: a failure mid-body raises `TransientError`; RaaS has no point to resume from, so the caller
        starts the report again. Close the iterator (`aclosing`) to stop early."""
        params = {**self._config.report_prompts, **prompts, "format": "json"}
        request = self._http.build_request("GET", self.report_path(), params=params,
                                           headers={"Accept": "application/json"})  # fmt: skip
        response = await with_retry(lambda: self._open(request), self._retry)
        try:
            async with transport_errors():
                async for row in ijson.items_async(_Body(response.aiter_bytes()), "Report_Entry.item", use_float=True):
                    if isinstance(row, dict):
                        yield row
        except ijson.JSONError as exc:
            raise TransientError("malformed RaaS report (cut off in transit?)") from exc
        finally:
            await response.aclose()

    async def _open(self, request: httpx.Request) -> httpx.Response:
        async with transport_errors():
            response = await self._http.send(request, auth=self.auth or httpx.USE_CLIENT_DEFAULT, stream=True)
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
        error = classify(response)
        if error is not None:
            raise error
        self.last_server_time = server_time(response) or self.last_server_time
        return response
