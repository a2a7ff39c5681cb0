"""The SCIM wire of `/scim/v2`: media type, SCIM error answers (RFC 7644 section 3.12, never problem+json), the
bearer token that names the connection, and how a User is answered (location, ETag, requested attributes)."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from scim2_models import Context, Error, Meta, ResponseParameters, SCIMException
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.inputs import storable
from enrolsync.sync.store import scim_state
from enrolsync.sync.store.scim_state import ScimUser

log = structlog.get_logger("enrolsync.api")

MEDIA_TYPE = "application/scim+json"
PREFIX = "/scim/v2"


class ScimJSON(JSONResponse):
    media_type = MEDIA_TYPE


def documented_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """SCIM error answers in the OpenAPI document: `application/scim+json` Error messages, not problem+json."""
    schema = {"$ref": "#/components/schemas/ScimError"}
    return {code: {"description": "a SCIM error", "content": {MEDIA_TYPE: {"schema": schema}}} for code in codes}


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


async def on_scim_error(request: Request, exc: Exception, headers: dict[str, str] | None = None) -> Response:
    """Every `SCIMException` (raised only on these routes) in SCIM's error format."""
    error = exc.to_error() if isinstance(exc, SCIMException) else Error(status=500, detail="internal error")
    if error.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="SCIM"'}
    return answer(error.model_dump(), int(error.status or 500), headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SCIMException, on_scim_error)


def fail(status: int, detail: str, scim_type: str | None = None) -> SCIMException:
    return SCIMException.from_error(Error(status=status, scim_type=scim_type, detail=detail))


async def connection_id(request: Request, session: AsyncSession) -> str:
    """The connection the call's SCIM bearer token was issued for; a SCIM 401 otherwise. Also refuses (400) path
    and query text the database cannot store, before any lookup meets it."""
    params = [*request.path_params.values(), *request.query_params.values()]
    if not all(_storable(v) for v in params):
        raise fail(400, "the request holds text that cannot be stored (NUL or invalid Unicode)", "invalidValue")
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    connection_id = await scim_state.token_connection(session, secret.strip()) if scheme.lower() == "bearer" else None
    if connection_id is None:
        log.warning("scim.rejected", reason="unknown or missing token")
        raise fail(401, "the SCIM token is missing or not valid for any connection")
    return connection_id


def scim_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


async def read_json(request: Request) -> Any:
    """The JSON body; a SCIM 400 when it is not JSON or holds text the database cannot store (NUL, lone
    surrogates), which would otherwise fail deep in a write as a 500."""
    try:
        body = json.loads(await request.body())
        ok = _storable(body)
    except (ValueError, RecursionError):
        raise fail(400, "the body is not JSON", "invalidSyntax") from None
    if not ok:
        raise fail(400, "the body holds text that cannot be stored (NUL or invalid Unicode)", "invalidValue")
    return body


def published(request: Request, user: ScimUser) -> ScimUser:
    user.meta = user.meta or Meta(resource_type="User")
    user.meta.location = f"{scim_url(request)}/Users/{user.id}"
    return user


def user_answer(
    request: Request, user: ScimUser, ctx: Context, status: int = 200, params: ResponseParameters[Any] | None = None
) -> JSONResponse:
    meta = published(request, user).meta or Meta()
    headers = {"ETag": str(meta.version), "Location": str(meta.location)}
    return answer(user.model_dump(scim_ctx=ctx, response_parameters=params), status, headers)


def response_parameters(request: Request) -> ResponseParameters[ScimUser]:
    wanted = {k: v for k, v in request.query_params.items() if k in ("attributes", "excludedAttributes")}
    try:
        return ResponseParameters[ScimUser].model_validate(wanted)
    except ValidationError as error:
        raise scim_state.scim_error(error) from None
