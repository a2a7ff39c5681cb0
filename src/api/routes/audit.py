"""The audit trail: who changed which connection or pipeline and who steered which run. Admins only: it shows
every actor's activity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from enrolsync.api import queries
from enrolsync.api.audit import ResourceType
from enrolsync.api.auth import require
from enrolsync.api.deps import AfterQuery, LimitQuery, SessionDep
from enrolsync.api.problems import problem_responses
from enrolsync.api.schemas import AuditEntryPublic, Page
from enrolsync.sync.store.tables import ApiRole, AuditEntry

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(require(ApiRole.ADMIN))])

AUDIT_ORDER: queries.Keyset[AuditEntry] = queries.Keyset(AuditEntry, (col(AuditEntry.id),), descending=True)


def audit_public(entry: AuditEntry) -> AuditEntryPublic:
    """The API view of an audit entry."""
    assert entry.id is not None  # noqa: S101 - rows read back from the database always have their id
    return AuditEntryPublic(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        actor_name=entry.actor_name,
        role=entry.role,
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        detail=entry.detail,
    )


@router.get("", responses=problem_responses(400))
async def list_audit(
    session: SessionDep,
    actor: Annotated[str | None, Query(max_length=200, description="e.g. `token:<id>` or `oidc:<subject>`.")] = None,
    resource_type: ResourceType | None = None,
    resource_id: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=50, description="e.g. `run.approve`.")] = None,
    after: AfterQuery = None,
    limit: LimitQuery = queries.DEFAULT_LIMIT,
) -> Page[AuditEntryPublic]:
    """Audit entries, newest first, optionally of one actor, one resource (type and/or id) or one action."""
    stmt = select(AuditEntry)
    if actor is not None:
        stmt = stmt.where(col(AuditEntry.actor) == actor)
    if resource_type is not None:
        stmt = stmt.where(col(AuditEntry.resource_type) == resource_type)
    if resource_id is not None:
        stmt = stmt.where(col(AuditEntry.resource_id) == resource_id)
    if action is not None:
        stmt = stmt.where(col(AuditEntry.action) == action)
    items, following = await queries.page(session, stmt, AUDIT_ORDER, after=after, limit=limit)
    return Page(items=[audit_public(entry) for entry in items], next=following)
