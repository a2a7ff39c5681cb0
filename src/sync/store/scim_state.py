"""The SCIM resource store of `scim-inbound` connections: what an identity provider pushed, as SCIM Users.

Payloads are `scim2-models` objects end to end: a request is validated in its SCIM context, a PATCH is applied by
the library's `PatchOp.patch`, a filter is evaluated by `ScimFilter.match`. This module adds what the library leaves
to a server: ids, `meta`, versions (ETags), `userName` uniqueness (case-insensitive, RFC 7643 section 4.1.1) and
storage. The two filters identity providers send before each create (Entra and Okta: `userName eq "..."`,
`externalId eq "..."`) are answered from indexed columns; any other filter walks the connection's users.

Errors are raised as the library's `SCIMException`s, which the API answers in SCIM's own error format.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    Meta,
    Patch,
    PatchOp,
    ResourceType,
    SCIMException,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    UniquenessException,
    User,
)
from scim2_models.path import CompareOperator, Comparison
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import ScimResource, ScimToken, new_id, utcnow

ScimUser = User[EnterpriseUser]
USER = "User"
TOKEN_PREFIX = "ess_"  # noqa: S105 - enrolsync SCIM: recognisable by secret scanners, never a JWT (no dots)
MAX_RESULTS = 1000  # the largest page; announced as `filter.maxResults`
DEFAULT_COUNT = 100

CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=True),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="The token issued for this connection (POST /connections/{id}/scim-token)",
            primary=True,
        )
    ],
)
PROVIDER = ScimProvider([User, EnterpriseUser], [ResourceType.from_resource(ScimUser)], CONFIG)


def scim_error(error: ValidationError) -> SCIMException:
    """The SCIM exception (400 with its `scimType`) of a payload the library refused."""
    return SCIMException.from_error(Error.from_validation_errors(error)[0])


# --- tokens -------------------------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(session: AsyncSession, *, connection_id: str) -> str:
    """A new SCIM bearer token for the connection, replacing any earlier one; the caller commits. Only its
    SHA-256 digest is stored (256 random bits: a digest cannot be reversed by guessing), so it is shown once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await session.get(ScimToken, connection_id)
    if row is None:
        row = ScimToken(connection_id=connection_id, token_hash=_digest(secret))
    row.token_hash, row.created_at = _digest(secret), utcnow()
    session.add(row)
    await session.flush()
    return secret


async def token_connection(session: AsyncSession, secret: str) -> str | None:
    """The connection a SCIM token was issued for, or None; looked up by digest, never compared by character."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = (await session.exec(select(ScimToken).where(ScimToken.token_hash == _digest(secret)))).first()
    return row.connection_id if row is not None else None


# --- resources ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A write to the store: the user as stored now, and what kind of HR change it is."""

    user: ScimUser
    kind: str  # created | updated | deleted
    version: int


def to_user(row: ScimResource) -> ScimUser:
    user = ScimUser.model_validate(row.body)
    user.meta = Meta(
        resource_type=USER, created=row.created_at, last_modified=row.updated_at, version=f'W/"{row.version}"'
    )
    return user


def _body(user: ScimUser) -> dict[str, Any]:
    # Dumped as a query answers it: `returned: never` attributes (a password an IdP may send) are never stored.
    body = user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    body.pop("meta", None)
    return body


async def get(session: AsyncSession, *, connection_id: str, resource_id: str) -> ScimResource | None:
    row = await session.get(ScimResource, resource_id) if len(resource_id) <= 32 else None
    return row if row is not None and row.connection_id == connection_id and row.resource_type == USER else None


async def _taken(session: AsyncSession, connection_id: str, user_name: str, but: str | None) -> bool:
    stmt = select(ScimResource.id).where(
        ScimResource.connection_id == connection_id,
        ScimResource.resource_type == USER,
        ScimResource.user_name == user_name.casefold(),
    )
    return any(found != but for found in (await session.exec(stmt)).all())


async def _write(session: AsyncSession, row: ScimResource, user: ScimUser) -> None:
    if not user.user_name:
        raise SCIMException.from_error(Error(status=400, scim_type="invalidValue", detail="userName is required"))
    if await _taken(session, row.connection_id, user.user_name, row.id):
        raise UniquenessException(detail=f"userName {user.user_name!r} is already taken")
    user.id = row.id
    row.user_name, row.external_id, row.body = user.user_name.casefold(), user.external_id, _body(user)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same userName written at the same moment by a concurrent request
        raise UniquenessException(detail=f"userName {user.user_name!r} is already taken") from None


async def create(session: AsyncSession, *, connection_id: str, user: ScimUser, now: datetime) -> Change:
    """Store a new user; the caller commits. Raises `UniquenessException` on a taken `userName`."""
    row = ScimResource(id=new_id(), connection_id=connection_id, resource_type=USER, created_at=now, updated_at=now)
    await _write(session, row, user)
    return Change(user=to_user(row), kind="created", version=row.version)


async def replace(session: AsyncSession, *, row: ScimResource, user: ScimUser, now: datetime) -> Change | None:
    """Replace a user (PUT); None when nothing changed (its version and time stay)."""
    current = to_user(row)
    if not user.replace(current):
        return None
    return await _update(session, row, user, now)


async def patch(
    session: AsyncSession, *, row: ScimResource, patch_op: PatchOp[ScimUser], now: datetime
) -> Change | None:
    """Apply a PATCH; None when it changed nothing."""
    user = to_user(row)
    if not patch_op.patch(user):
        return None
    return await _update(session, row, user, now)


async def _update(session: AsyncSession, row: ScimResource, user: ScimUser, now: datetime) -> Change:
    row.version += 1
    row.updated_at = now
    await _write(session, row, user)
    return Change(user=to_user(row), kind="updated", version=row.version)


async def delete(session: AsyncSession, *, row: ScimResource) -> Change:
    change = Change(user=to_user(row), kind="deleted", version=row.version + 1)
    await session.delete(row)
    await session.flush()
    return change


def _indexed(search: SearchRequest[ScimUser]) -> tuple[str, str] | None:
    """(column, value) when the filter is one `userName eq` or `externalId eq` on a string: an index lookup."""
    node = search.filter.ast if search.filter is not None else None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    name = str(node.attr_path).casefold().removeprefix("urn:ietf:params:scim:schemas:core:2.0:user:")
    if name == "username":
        return "user_name", node.value.casefold()
    if name == "externalid":
        return "external_id", node.value
    return None


@dataclass(frozen=True)
class Found:
    total: int
    users: list[ScimUser]


async def search(session: AsyncSession, *, connection_id: str, request: SearchRequest[ScimUser]) -> Found:
    """One page of the users matching a search (`startIndex` is 1-based; ordered by creation)."""
    stmt = select(ScimResource).where(ScimResource.connection_id == connection_id, ScimResource.resource_type == USER)
    start = max(request.start_index or 1, 1)
    count = min(DEFAULT_COUNT if request.count is None else max(request.count, 0), MAX_RESULTS)
    order = (col(ScimResource.created_at), col(ScimResource.id))
    indexed = _indexed(request)
    if request.filter is None or indexed is not None:
        if indexed is not None:
            stmt = stmt.where(getattr(ScimResource, indexed[0]) == indexed[1])
        total = (await session.exec(select(func.count()).select_from(stmt.subquery()))).one()
        rows = (await session.exec(stmt.order_by(*order).offset(start - 1).limit(count))).all()
        return Found(total=total, users=[to_user(r) for r in rows])
    bound = ScimFilter[ScimUser](str(request.filter))
    matched = [u for u in (to_user(r) for r in (await session.exec(stmt.order_by(*order))).all()) if bound.match(u)]
    return Found(total=len(matched), users=matched[start - 1 : start - 1 + count])
