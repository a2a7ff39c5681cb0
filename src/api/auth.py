"""Who is calling and what they may do: bearer tokens (our API tokens or OIDC access tokens) and roles.

Every route but health and webhooks is mounted behind `current_principal` (see `app.py`) and declares the role
it needs with one of the `Viewer`, `Operator` or `Admin` aliases (or `require(role)` in `dependencies=`).
`route_role` reads that decision back from a route, so the app refuses to start with a protected route that has
none, and the role matrix test covers every route there is.

Roles are ordered: admin includes operator, operator includes viewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from enrolsync.api.deps import services
from enrolsync.api.oidc import OidcRejected, OidcUnavailable
from enrolsync.api.problems import UNAVAILABLE, Problem, forbidden, unauthorized
from enrolsync.api.tokens import TokenRejected, check_token, looks_like_api_token
from enrolsync.sync.store.tables import ApiRole

log = structlog.get_logger("enrolsync.api")

# A manager ranks below a viewer: the routes that admit managers scope them to their own reports.
RANK = {ApiRole.MANAGER: -1, ApiRole.VIEWER: 0, ApiRole.OPERATOR: 1, ApiRole.ADMIN: 2}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`enrolsync token create`) or an access token (JWT) of the configured OIDC issuer.",
)


@dataclass(frozen=True)
class Principal:
    """The caller: `subject` is stable (`token:<id>` or `oidc:<sub>`), `name` is for people to read. A manager
    carries their `hr_id`: they see only the people reporting to it, directly or not."""

    subject: str
    name: str
    role: ApiRole
    hr_id: str | None = None


def allows(have: ApiRole, need: ApiRole) -> bool:
    """True when a caller with role `have` may do what needs `need`."""
    return RANK[have] >= RANK[need]


async def _from_api_token(request: Request, secret: str) -> Principal:
    built = services(request)
    async with built.sessions() as session:
        try:
            token = await check_token(session, secret=secret, now=built.now())
        except TokenRejected as error:
            raise unauthorized(str(error)) from None
    return Principal(subject=f"token:{token.id}", name=token.name, role=ApiRole(token.role), hr_id=token.hr_id)


async def _from_oidc(request: Request, secret: str) -> Principal:
    verifier = services(request).oidc
    if verifier is None:
        raise unauthorized("the token is not an API token, and no OIDC issuer is configured")
    try:
        identity = await verifier.verify(secret)
    except OidcRejected as error:
        raise unauthorized(str(error)) from None
    except OidcUnavailable as error:
        log.warning("auth.oidc_unavailable", reason=str(error))
        raise Problem(503, "the identity provider's signing keys cannot be fetched", type_=UNAVAILABLE) from None
    if not identity.roles:
        raise forbidden(f"the access token names no enrolsync role in claim {verifier.config.role_claim!r}")
    role = max(identity.roles, key=RANK.__getitem__)
    if role is ApiRole.MANAGER and not identity.hr_id:
        raise forbidden(f"a manager's access token must carry their HR id in claim {verifier.config.hr_id_claim!r}")
    hr_id = identity.hr_id if role is ApiRole.MANAGER else None
    return Principal(subject=f"oidc:{identity.subject}", name=identity.name, role=role, hr_id=hr_id)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The authenticated caller. 401 (with `WWW-Authenticate: Bearer`) when the token is missing or bad."""
    if credentials is None:
        raise unauthorized("this endpoint needs a bearer token (Authorization: Bearer <token>)", error=None)
    secret = credentials.credentials
    if looks_like_api_token(secret):
        return await _from_api_token(request, secret)
    return await _from_oidc(request, secret)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class RoleCheck:
    """A dependency that lets a request through only when the caller's role allows `role`."""

    def __init__(self, role: ApiRole) -> None:
        self.role = role

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if not allows(principal.role, self.role):
            raise forbidden(f"this needs the {self.role.value} role; the caller has {principal.role.value}")
        return principal

    def __repr__(self) -> str:
        return f"require({self.role.value})"


# One instance per role: FastAPI caches a dependency per request by identity, and `route_role` finds them.
_CHECKS = {role: RoleCheck(role) for role in ApiRole}


def require(role: ApiRole) -> RoleCheck:
    """The dependency that requires `role` (use in `dependencies=[Depends(require(...))]`)."""
    return _CHECKS[role]


Viewer = Annotated[Principal, Depends(require(ApiRole.VIEWER))]
Operator = Annotated[Principal, Depends(require(ApiRole.OPERATOR))]
Admin = Annotated[Principal, Depends(require(ApiRole.ADMIN))]
Manager = Annotated[Principal, Depends(require(ApiRole.MANAGER))]  # viewers and up, or a manager (scoped)


def _checks(dependant: Dependant) -> Iterable[RoleCheck]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleCheck):
            yield sub.call
        yield from _checks(sub)


def route_role(route: APIRoute) -> ApiRole | None:
    """The role a route requires (the strictest it declares), or None when it declares none."""
    roles = [check.role for check in _checks(route.dependant)]
    return max(roles, key=RANK.__getitem__) if roles else None


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every API route, also inside included routers (which newer FastAPI keeps nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested includes: included routes are flat copies
        yield from ((route.path, route) for route in routes if isinstance(route, APIRoute))
        return
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context.path or context.original_route.path, context.original_route


def ensure_roles(routes: Sequence[BaseRoute]) -> None:
    """Refuse (at app build) a protected route that does not say which role it needs.

    Raises:
        RuntimeError: naming the first such route.
    """
    for path, route in api_routes(routes):
        if route_role(route) is None:
            raise RuntimeError(f"route {sorted(route.methods or ())} {path} declares no role (see api/auth.py)")
