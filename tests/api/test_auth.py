"""Bearer tokens and roles: the role x endpoint matrix over every route the app has, and each way a token fails."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.auth import api_routes, ensure_roles, require, route_role
from enrolsync.api.tokens import revoke_token
from enrolsync.api.ui.session import COOKIE, csrf_token
from enrolsync.sync.store.tables import ApiRole, ApiToken, utcnow
from tests.support.api import Clock, MakeClient, token_for
from tests.support.assertions import assert_problem
from tests.support.leaks import LeakGuard

V, OP, A, M = ApiRole.VIEWER, ApiRole.OPERATOR, ApiRole.ADMIN, ApiRole.MANAGER
PUBLIC = None

# The role decision of every route. A route missing here (or here but gone) fails the first test: adding an
# endpoint means deciding who may call it.
MATRIX: dict[tuple[str, str], ApiRole | None] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # ids and counts only (issue 17)
    ("GET", "/"): PUBLIC,  # a redirect to the web page
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/webhooks/{connection_id}"): PUBLIC,  # proven by the HR system's signature instead
    ("GET", "/connectors"): V,
    ("GET", "/connectors/{key}"): V,
    ("POST", "/connections"): A,
    ("GET", "/connections"): V,
    ("GET", "/connections/{connection_id}"): V,
    ("PATCH", "/connections/{connection_id}"): A,
    ("DELETE", "/connections/{connection_id}"): A,
    ("POST", "/connections/{connection_id}/check"): A,
    ("GET", "/connections/{connection_id}/courses"): A,
    ("GET", "/connections/{connection_id}/events"): V,
    ("POST", "/connections/{connection_id}/uploads"): A,  # as editing the connection: it changes what syncs
    ("GET", "/connections/{connection_id}/uploads"): V,  # metadata only
    ("POST", "/pipelines"): A,
    ("GET", "/pipelines"): V,
    ("GET", "/pipelines/{pipeline_id}"): V,
    ("PATCH", "/pipelines/{pipeline_id}"): A,
    ("DELETE", "/pipelines/{pipeline_id}"): A,
    ("POST", "/pipelines/{pipeline_id}/runs"): OP,
    ("POST", "/pipelines/{pipeline_id}/quarantine/lift"): OP,
    ("GET", "/pipelines/{pipeline_id}/runs"): V,
    ("GET", "/runs/{run_id}"): V,
    ("GET", "/runs/{run_id}/operations"): V,
    ("POST", "/runs/{run_id}/cancel"): OP,
    ("POST", "/runs/{run_id}/approve"): OP,
    ("POST", "/runs/{run_id}/apply"): OP,
    ("GET", "/pipelines/{pipeline_id}/people"): V,
    ("GET", "/pipelines/{pipeline_id}/people/{hr_id}"): V,
    ("GET", "/pipelines/{pipeline_id}/teams/{manager_hr_id}"): M,  # a manager: only their own reports (below)
    ("GET", "/pipelines/{pipeline_id}/summary"): V,
    ("GET", "/pipelines/{pipeline_id}/progress/reads"): V,
    ("GET", "/audit"): A,
    ("POST", "/connections/{connection_id}/scim-token"): A,
    # SCIM inbound: an identity provider's calls, proven by the connection's SCIM token instead (issue 13).
    **{
        (method, f"/scim/v2{path}"): PUBLIC
        for method, path in [
            ("GET", "/ServiceProviderConfig"),
            ("GET", "/ResourceTypes"),
            ("GET", "/ResourceTypes/{type_id}"),
            ("GET", "/Schemas"),
            ("GET", "/Schemas/{schema_id}"),
            ("GET", "/Users"),
            ("POST", "/Users"),
            ("POST", "/.search"),
            ("POST", "/Users/.search"),
            ("GET", "/Users/{user_id}"),
            ("PUT", "/Users/{user_id}"),
            ("PATCH", "/Users/{user_id}"),
            ("DELETE", "/Users/{user_id}"),
            *((method, "/{rest:path}") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
        ]
    },
    # The web page (api/ui): the same roles as the API route each page shows or acts through, checked on the
    # session cookie instead of the Authorization header (test_the_web_page_role_matrix).
    ("GET", "/ui/sign-in"): PUBLIC,
    ("POST", "/ui/sign-in"): PUBLIC,
    ("GET", "/ui/sign-in/oidc"): PUBLIC,  # single sign-on: off (404) unless an issuer and a client id are set
    ("GET", "/ui/sign-in/oidc/callback"): PUBLIC,
    ("POST", "/ui/sign-out"): M,  # a manager signs out too
    ("GET", "/ui"): M,  # a manager's start page lists their own team only
    ("GET", "/ui/pipelines/{pipeline_id}"): V,
    ("POST", "/ui/pipelines/{pipeline_id}/runs"): OP,
    ("POST", "/ui/pipelines/{pipeline_id}/quarantine/lift"): OP,
    ("GET", "/ui/runs/{run_id}"): V,
    ("GET", "/ui/runs/{run_id}/progress"): V,
    ("POST", "/ui/runs/{run_id}/approve"): OP,
    ("POST", "/ui/runs/{run_id}/cancel"): OP,
    ("POST", "/ui/runs/{run_id}/apply"): OP,
    ("GET", "/ui/connections"): V,
    ("POST", "/ui/connections/{connection_id}/check"): A,
    ("GET", "/ui/pipelines/{pipeline_id}/people"): V,
    ("GET", "/ui/pipelines/{pipeline_id}/people/{hr_id}"): V,
    ("GET", "/ui/pipelines/{pipeline_id}/teams/{manager_hr_id}"): M,  # a manager: only their own reports
}
UI = "/ui"
RANK = {M: -1, V: 0, OP: 1, A: 2}


def app_routes(app: FastAPI) -> dict[tuple[str, str], ApiRole | None]:
    return {
        (method, path): route_role(route) for path, route in api_routes(app.routes) for method in route.methods or ()
    }


def concrete(path: str) -> str:
    """A path with every parameter filled with an id that does not exist."""
    for name in ("connection_id", "pipeline_id", "run_id", "hr_id", "manager_hr_id", "key"):
        path = path.replace("{" + name + "}", "missing")
    return path


async def call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    body: dict[str, object] | None = {} if method in ("POST", "PATCH") else None
    return await client.request(method, concrete(path), json=body)


def test_every_route_has_a_role_decision(app: FastAPI) -> None:
    assert app_routes(app) == MATRIX


async def test_the_role_matrix(make_client: MakeClient, tokens: dict[ApiRole, str]) -> None:
    anonymous = make_client(None)
    clients = {role: make_client(tokens[role]) for role in ApiRole}
    for (method, path), needed in MATRIX.items():
        if path.startswith(UI):
            continue  # the web page signs in with a cookie: test_the_web_page_role_matrix
        unauthenticated = await call(anonymous, method, path)
        if needed is PUBLIC:
            # A public route never asks for a bearer token (the webhook's 401 is about the call's signature).
            refused = unauthenticated.status_code == 401
            assert not refused or "bearer token" not in unauthenticated.json()["detail"], (method, path)
            continue
        body = assert_problem(unauthenticated, 401)
        assert unauthenticated.headers["www-authenticate"] == "Bearer", (method, path)
        assert "bearer token" in body["detail"]
        for role, client in clients.items():
            response = await call(client, method, path)
            if RANK[role] >= RANK[needed]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert needed.value in assert_problem(response, 403)["detail"], (method, path, role)


async def test_the_web_page_role_matrix(make_client: MakeClient, tokens: dict[ApiRole, str]) -> None:
    """Each page: without a session it sends the browser to sign in; a role too low gets a 403 page naming the
    role needed; a bearer token alone does not sign a page in (a page is never the API by another door)."""
    anonymous = make_client(None)
    bearer_only = make_client(tokens[A])
    sessions = {role: make_client(None) for role in ApiRole}
    for role, client in sessions.items():
        client.headers["Cookie"] = f"{COOKIE}={tokens[role]}"
    for (method, path), needed in MATRIX.items():
        if not path.startswith(UI) or needed is PUBLIC:
            continue
        for client in (anonymous, bearer_only):
            response = await client.request(method, concrete(path), data={"csrf": "x"} if method == "POST" else None)
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/ui/sign-in?next="), (method, path)
        for role, client in sessions.items():
            form = {"csrf": csrf_token(tokens[role])} if method == "POST" else None
            response = await client.request(method, concrete(path), data=form)
            if RANK[role] >= RANK[needed]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert "/ui/sign-in?next=" not in response.headers.get("location", ""), (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert f"needs the {needed.value} role" in response.text, (method, path, role)


def test_a_protected_route_without_a_role_is_refused_at_build_time() -> None:
    router = APIRouter()

    @router.get("/forgotten")
    async def forgotten() -> None:
        return None

    @router.get("/decided", dependencies=[Depends(require(ApiRole.VIEWER))])
    async def decided() -> None:
        return None

    with pytest.raises(RuntimeError, match="/forgotten"):
        ensure_roles(router.routes)


async def test_an_expired_token_is_refused(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, clock: Clock
) -> None:
    token = await token_for(app, ApiRole.ADMIN, leak_guard, expires_in=timedelta(hours=1))
    client = make_client(token)
    assert (await client.get("/pipelines")).status_code == 200

    clock.moment = utcnow() + timedelta(hours=2)
    response = await client.get("/pipelines")

    assert "expired" in assert_problem(response, 401)["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_revoked_token_is_refused(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, session: AsyncSession
) -> None:
    token = await token_for(app, ApiRole.ADMIN, leak_guard)
    client = make_client(token)
    assert (await client.get("/pipelines")).status_code == 200
    for row in (await session.exec(select(ApiToken))).all():
        await revoke_token(session, token_id=row.id)
    await session.commit()

    assert "revoked" in assert_problem(await client.get("/pipelines"), 401)["detail"]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer esk_" + "x" * 43, "not known"),
        ("Bearer esk_" + "x" * 5000, "malformed"),
        ("Bearer not-a-token", "not an API token"),
        ("Bearer a.b.c", "no OIDC issuer"),
        ("Basic dXNlcjpwYXNz", "bearer token"),
        ("Bearer", "bearer token"),
        ("esk_abc", "bearer token"),
    ],
)
async def test_malformed_or_unknown_tokens_are_refused(
    make_client: MakeClient, authorization: str, reason: str
) -> None:
    client = make_client(None)

    response = await client.get("/pipelines", headers={"Authorization": authorization})

    assert reason in assert_problem(response, 401)["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_use_is_recorded_at_most_once_a_minute(
    client: httpx.AsyncClient, tokens: dict[ApiRole, str], session: AsyncSession, clock: Clock
) -> None:
    start = utcnow()
    clock.moment = start
    await client.get("/pipelines")
    clock.moment = start + timedelta(seconds=30)
    await client.get("/pipelines")
    first = await _last_used(session)
    clock.moment = start + timedelta(minutes=2)
    await client.get("/pipelines")

    assert first == start
    assert await _last_used(session) == start + timedelta(minutes=2)


async def _last_used(session: AsyncSession) -> datetime | None:
    token = (await session.exec(select(ApiToken).where(ApiToken.role == "admin"))).one()
    await session.refresh(token)
    return token.last_used_at


async def test_tokens_are_stored_as_digests_only(tokens: dict[ApiRole, str], session: AsyncSession) -> None:
    stored = (await session.exec(select(ApiToken))).all()

    assert len(stored) == len(ApiRole)
    for row in stored:
        assert len(row.token_hash) == 64
        assert all(row.token_hash not in secret and secret not in row.token_hash for secret in tokens.values())
