"""The stored SCIM state of a `scim-inbound` connection, served to its connector as a read-only SCIM service.

The connector reads SCIM over its HTTP client like any source; for a connection an identity provider pushes to,
the client factory hands it this transport, which answers `GET .../Users` (by `startIndex`/`count`) and
`GET .../Users/{id}` from the database, never the network. So a full run reads exactly what the identity
provider last wrote, and a person-scoped run (an event's) reads just the users it names.
"""

from __future__ import annotations

import json

import httpx
from scim2_models import Context, SearchRequest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store import scim_state
from enrolsync.sync.store.scim_state import ScimUser

MEDIA_TYPE = "application/scim+json"


def _answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": MEDIA_TYPE})


def _error(status: int, detail: str) -> httpx.Response:
    return _answer(
        status, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}
    )


class StoredScimTransport(httpx.AsyncBaseTransport):
    """Serves one connection's stored Users as SCIM, read-only."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], connection_id: str) -> None:
        self._sessions = sessions
        self._connection_id = connection_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return _error(405, "the stored SCIM state is read-only here")
        parts = request.url.path.rstrip("/").split("/")
        async with self._sessions() as session:
            if parts[-1] == "Users":
                return await self._list(session, request)
            if len(parts) >= 2 and parts[-2] == "Users":
                row = await scim_state.get(session, connection_id=self._connection_id, resource_id=parts[-1])
                if row is None:
                    return _error(404, "no such user")
                return _answer(200, scim_state.to_user(row).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
        return _error(404, "not served")

    async def _list(self, session: AsyncSession, request: httpx.Request) -> httpx.Response:
        params = {k: v for k, v in request.url.params.items() if k in ("startIndex", "count")}
        search = SearchRequest[ScimUser].model_validate(params)
        found = await scim_state.search(session, connection_id=self._connection_id, request=search)
        return _answer(200, {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": found.total,
            "itemsPerPage": len(found.users),
            "startIndex": search.start_index or 1,
            "Resources": [u.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for u in found.users],
        })  # fmt: skip
