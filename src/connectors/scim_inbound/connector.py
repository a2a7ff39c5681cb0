"""`scim-inbound` as an HR source: the Users an identity provider pushed, read as SCIM through the HTTP client.

The connector is a plain SCIM reader (`GET /Users` by `startIndex`/`count`, `GET /Users/{id}`), so it stays an
adapter with no storage of its own: for a connection fed by an identity provider, the engine hands it a client
whose transport answers from the connection's stored SCIM state (`sync/run/scim_state.py`). Events do not come
through `parse_event`: the identity provider's writes arrive on `/scim/v2` and are turned into HR events there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.auth import Bearer
from enrolsync.connectors.kit.errors import classify, transport_errors
from enrolsync.connectors.kit.retry import ReadRetry, with_retry
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, PersonStatus, RawRequest
from enrolsync.connectors.scim_inbound.config import ScimInboundConfig
from enrolsync.connectors.scim_inbound.mapping import to_person

MEDIA_TYPE = "application/scim+json"


class ScimInboundSource:
    """People provisioned by an identity provider over SCIM 2.0 (Entra ID, Okta), with the enterprise extension."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="scim-inbound",
        kind="hris",
        title="SCIM 2.0 inbound (Entra ID, Okta)",
        config_model=ScimInboundConfig,
        capabilities=frozenset({Capability.PERSONS_FULL, Capability.PERSONS_BY_ID}),
    )

    def __init__(
        self, config: ScimInboundConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None
    ) -> None:
        self._config = config
        self._http = http
        self._retry = retry or ReadRetry()
        self._inactive = PersonStatus(config.inactive_status)
        self._auth = Bearer(config.token) if config.token is not None else None

    async def check(self) -> CheckResult:
        """Read the first page of Users. Failures are results, never exceptions."""
        try:
            body = await self._get("Users", {"startIndex": 1, "count": 1})
        except AuthError as exc:
            return CheckResult(ok=False, detail=f"the SCIM service refused the read: {exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"the SCIM service could not be read: {exc}")
        return CheckResult(ok=True, detail="SCIM users readable", facts={"users": int(body.get("totalResults", 0))})

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone, in pages of `page_size` (a cursor is ignored: SCIM has no change feed). Raises
        `TransientError` / `PermanentError`; `Invalid` for a User the service returns that is not valid SCIM."""
        return self._read_all()

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """One `GET /Users/{id}` per id; an id the service does not know (deleted) comes back in `removed`."""
        for hr_id in dict.fromkeys(hr_ids):
            body = await self._get(f"Users/{hr_id}", None, missing_ok=True)
            if body is None:
                yield Page(items=(), removed=(hr_id,))
            else:
                yield Page(items=(self._person(body),))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """Never: an identity provider's changes arrive on `/scim/v2`, authenticated by the connection's SCIM
        token, not as signed webhook calls. Raises `AuthError`."""
        raise AuthError("scim-inbound takes its changes on /scim/v2, not as webhook calls")

    async def _read_all(self) -> AsyncIterator[Page[Person]]:
        start, size = 1, self._config.page_size
        while True:
            body = await self._get("Users", {"startIndex": start, "count": size})
            resources = body.get("Resources") or []
            total = int(body.get("totalResults", 0))
            start += len(resources)
            last = not resources or start > total
            yield Page(items=tuple(self._person(r) for r in resources), checkpoint="full" if last else None)
            if last:
                return

    def _person(self, payload: Any) -> Person:
        try:
            return to_person(payload, inactive=self._inactive)
        except (ValidationError, TypeError) as error:
            raise Invalid(f"the SCIM service returned a User that is not valid ({type(error).__name__})") from None

    async def _get(self, path: str, params: dict[str, Any] | None, *, missing_ok: bool = False) -> Any:
        async def call() -> Any:
            request = self._http.build_request("GET", path, params=params, headers={"Accept": MEDIA_TYPE})
            async with transport_errors():
                response = (
                    await self._http.send(request, auth=self._auth) if self._auth else await self._http.send(request)
                )
            if missing_ok and response.status_code == 404:
                return None
            error = classify(response)
            if error is not None:
                raise error
            return response.json()

        return await with_retry(call, self._retry)


_checked: SourceClass = ScimInboundSource
