"""`/scim/v2`: the SCIM 2.0 service an identity provider (Entra ID, Okta) provisions people into, one connection
per bearer token (`POST /connections/{id}/scim-token` issues it, shown once, stored as a digest).

Users carry the enterprise extension (department, manager, employee number). Every write that changes a user is
stored in the connection's SCIM state (`sync/store/scim_state.py`, the source of the connection's full runs) and
becomes an HR event handed to person-scoped runs, exactly as a verified webhook call is (`sync/jobs/events.py`).
Errors on these routes are SCIM errors (`urn:ietf:params:scim:api:messages:2.0:Error`, RFC 7644 section 3.12),
never problem+json: identity providers parse `status` and `scimType`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError
from scim2_models import (
    Context,
    ListResponse,
    NotFoundException,
    PatchOp,
    ResourceType,
    Schema,
    SearchRequest,
)

from enrolsync.api import audit
from enrolsync.api.auth import Admin
from enrolsync.api.deps import ClockDep, QueueDep, SessionDep
from enrolsync.api.problems import Problem, not_found, problem_responses
from enrolsync.api.scim_patch import entra_patch, with_manager_ref
from enrolsync.api.scim_wire import (
    PREFIX,
    ScimJSON,
    answer,
    documented_errors,
    fail,
    on_scim_error,
    published,
    read_json,
    response_parameters,
    scim_url,
    user_answer,
)
from enrolsync.api.scim_wire import (
    connection_id as token_connection,
)
from enrolsync.connectors.model import HrEvent, HrEventKind
from enrolsync.sync.jobs import events
from enrolsync.sync.store import scim_state
from enrolsync.sync.store.scim_state import PROVIDER, ScimUser
from enrolsync.sync.store.tables import Connection, ScimResource

log = structlog.get_logger("enrolsync.api")

CONNECTOR_KEY = "scim-inbound"


router = APIRouter(
    prefix=PREFIX,
    tags=["scim"],
    default_response_class=ScimJSON,
    responses=documented_errors(400, 401, 404, 405, 409, 412),
)
admin_router = APIRouter(prefix="/connections", tags=["connections"])


class ScimTokenIssued(BaseModel):
    """The new SCIM token, shown this once, and where the identity provider sends its requests (the tenant URL)."""

    token: str
    scim_url: str


async def _emit(
    session: SessionDep, queue: QueueDep, connection_id: str, change: scim_state.Change, now: datetime
) -> None:
    """Turn a stored change into an HR event and hand it to runs, as a webhook's event is (then commit)."""
    event = HrEvent(
        event_id=f"scim:{change.user.id}:{change.version}",
        kind=HrEventKind(change.kind),
        hr_id=str(change.user.id),
        occurred_at=now,
    )
    raw = events.raw_request({}, b"", now)
    await events.store(session, connection_id=connection_id, raw=raw, events=[event])
    await session.commit()
    log.info("scim.changed", connection_id=connection_id, hr_id=event.hr_id, kind=change.kind)
    await events.dispatch(session, connection_id=connection_id, queue=queue)


# --- discovery ----------------------------------------------------------------------------------------------------


def _located(resource: ResourceType | Schema, location: str) -> dict[str, Any]:
    dumped = resource.model_dump()
    dumped["meta"] = {"resourceType": type(resource).__name__, "location": location}
    return dumped


@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request, session: SessionDep) -> Response:
    await token_connection(request, session)
    body = scim_state.CONFIG.model_dump()
    body["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{scim_url(request)}/ServiceProviderConfig"}
    return answer(body)


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "itemsPerPage": len(items),
        "startIndex": 1,
        "Resources": items,
    }


@router.get("/ResourceTypes")
async def resource_types(request: Request, session: SessionDep) -> Response:
    await token_connection(request, session)
    base = scim_url(request)
    return answer(_listed([_located(t, f"{base}/ResourceTypes/{t.id}") for t in PROVIDER.resource_types]))


@router.get("/ResourceTypes/{type_id}")
async def resource_type(type_id: str, request: Request, session: SessionDep) -> Response:
    await token_connection(request, session)
    for found in PROVIDER.resource_types:
        if found.id == type_id:
            return answer(_located(found, f"{scim_url(request)}/ResourceTypes/{type_id}"))
    raise NotFoundException(detail=f"no resource type {type_id!r}")


@router.get("/Schemas")
async def schemas(request: Request, session: SessionDep) -> Response:
    await token_connection(request, session)
    base = scim_url(request)
    return answer(_listed([_located(s, f"{base}/Schemas/{s.id}") for s in PROVIDER.schemas]))


@router.get("/Schemas/{schema_id}")
async def schema(schema_id: str, request: Request, session: SessionDep) -> Response:
    await token_connection(request, session)
    for found in PROVIDER.schemas:
        if found.id == schema_id:
            return answer(_located(found, f"{scim_url(request)}/Schemas/{schema_id}"))
    raise NotFoundException(detail=f"no schema {schema_id!r}")


# --- users --------------------------------------------------------------------------------------------------------


async def _search(request: Request, session: SessionDep, payload: Any) -> Response:
    connection_id = await token_connection(request, session)
    try:
        search = SearchRequest[ScimUser].model_validate(payload, scim_ctx=Context.SEARCH_REQUEST)
    except ValidationError as error:
        raise scim_state.scim_error(error) from None
    found = await scim_state.search(session, connection_id=connection_id, request=search)
    page = ListResponse[ScimUser](
        total_results=found.total,
        items_per_page=len(found.users),
        start_index=max(search.start_index or 1, 1),
        resources=[published(request, u) for u in found.users],
    )
    return answer(page.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=search))


@router.get("/Users")
async def list_users(request: Request, session: SessionDep) -> Response:
    """Users by filter (`userName eq`, `externalId eq` and any other RFC 7644 filter), `startIndex` and `count`."""
    return await _search(request, session, dict(request.query_params))


@router.post("/.search")
@router.post("/Users/.search")
async def search_users(request: Request, session: SessionDep) -> Response:
    """The same search with a `SearchRequest` body (RFC 7644 section 3.4.3)."""
    return await _search(request, session, await read_json(request))


@router.post("/Users", status_code=201)
async def create_user(request: Request, session: SessionDep, queue: QueueDep, now: ClockDep) -> Response:
    connection_id = await token_connection(request, session)
    try:
        body = with_manager_ref(await read_json(request), f"{scim_url(request)}/Users")
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    except ValidationError as error:
        raise scim_state.scim_error(error) from None
    change = await scim_state.create(session, connection_id=connection_id, user=user, now=now())
    await _emit(session, queue, connection_id, change, now())
    return user_answer(request, change.user, Context.RESOURCE_CREATION_RESPONSE, 201)


async def _row(session: SessionDep, connection_id: str, user_id: str, request: Request | None = None) -> ScimResource:
    """The user; with `request`, also its `If-Match` precondition (RFC 7644 section 3.14): 412 on a stale ETag."""
    row = await scim_state.get(session, connection_id=connection_id, resource_id=user_id)
    if row is None:
        raise NotFoundException(detail=f"no user {user_id!r}")
    wanted = request.headers.get("if-match") if request is not None else None
    if wanted and wanted.strip() != "*" and f'W/"{row.version}"' not in {w.strip() for w in wanted.split(",")}:
        raise fail(412, "the user changed since the version If-Match names")
    return row


@router.get("/Users/{user_id}")
async def get_user(user_id: str, request: Request, session: SessionDep) -> Response:
    connection_id = await token_connection(request, session)
    row = await _row(session, connection_id, user_id)
    return user_answer(
        request, scim_state.to_user(row), Context.RESOURCE_QUERY_RESPONSE, params=response_parameters(request)
    )


@router.put("/Users/{user_id}")
async def replace_user(user_id: str, request: Request, session: SessionDep, queue: QueueDep, now: ClockDep) -> Response:
    connection_id = await token_connection(request, session)
    row = await _row(session, connection_id, user_id, request)
    try:
        body = with_manager_ref(await read_json(request), f"{scim_url(request)}/Users")
        user = ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    except ValidationError as error:
        raise scim_state.scim_error(error) from None
    change = await scim_state.replace(session, row=row, user=user, now=now())
    if change is not None:
        await _emit(session, queue, connection_id, change, now())
    current = change.user if change else scim_state.to_user(row)
    return user_answer(request, current, Context.RESOURCE_REPLACEMENT_RESPONSE, params=response_parameters(request))


@router.patch("/Users/{user_id}")
async def patch_user(user_id: str, request: Request, session: SessionDep, queue: QueueDep, now: ClockDep) -> Response:
    connection_id = await token_connection(request, session)
    row = await _row(session, connection_id, user_id, request)
    try:
        patch_op = PatchOp[ScimUser].model_validate(
            entra_patch(await read_json(request)), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        change = await scim_state.patch(session, row=row, patch_op=patch_op, now=now())
    except ValidationError as error:
        raise scim_state.scim_error(error) from None
    if change is not None:
        await _emit(session, queue, connection_id, change, now())
    current = change.user if change else scim_state.to_user(row)
    return user_answer(request, current, Context.RESOURCE_PATCH_RESPONSE, params=response_parameters(request))


@router.delete("/Users/{user_id}", status_code=204)
async def delete_user(user_id: str, request: Request, session: SessionDep, queue: QueueDep, now: ClockDep) -> Response:
    connection_id = await token_connection(request, session)
    row = await _row(session, connection_id, user_id, request)
    change = await scim_state.delete(session, row=row)
    await _emit(session, queue, connection_id, change, now())
    return Response(status_code=204)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown(rest: str, request: Request, session: SessionDep) -> Response:
    """Anything else under `/scim/v2`: a SCIM 405 on a known endpoint, else a SCIM 404 (after the token check),
    never the API's problem+json."""
    await token_connection(request, session)
    allowed = _allowed(rest.strip("/").split("/"))
    if allowed:
        error = fail(405, f"{request.method} is not allowed here; allowed: {', '.join(allowed)}")
        return await on_scim_error(request, error, {"Allow": ", ".join(allowed)})
    raise NotFoundException(detail="no such SCIM endpoint")


def _allowed(parts: list[str]) -> list[str]:
    if parts[0] in ("ServiceProviderConfig", "ResourceTypes", "Schemas") and len(parts) <= 2:
        return ["GET"]
    if parts == ["Users"]:
        return ["GET", "POST"]
    if parts[0] == "Users" and len(parts) == 2:
        return ["GET", "PUT", "PATCH", "DELETE"]
    return []


# --- the token, for admins ----------------------------------------------------------------------------------------


@admin_router.post("/{connection_id}/scim-token", status_code=201, responses=problem_responses(404, 409))
async def issue_scim_token(
    connection_id: str, principal: Admin, request: Request, session: SessionDep, now: ClockDep
) -> ScimTokenIssued:
    """Issue the SCIM bearer token of a `scim-inbound` connection (replacing any earlier one). It is shown in
    this answer only: paste it, with `scim_url`, into the identity provider's provisioning settings."""
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise not_found("connection", connection_id)
    if connection.connector != CONNECTOR_KEY:
        raise Problem(409, f"only a {CONNECTOR_KEY} connection takes a SCIM token")
    secret = await scim_state.issue_token(session, connection_id=connection_id)
    audit.record(
        session,
        principal,
        action="connection.scim_token",
        resource_type="connection",
        resource_id=connection_id,
        at=now(),
    )
    await session.commit()
    log.info("scim.token_issued", connection_id=connection_id)
    return ScimTokenIssued(token=secret, scim_url=scim_url(request))
