"""The audit trail: who changed which connection or pipeline, and who started, cancelled, approved or applied
which run. One entry per accepted request, added to the request's own transaction so a change and its entry
commit together. Entries carry ids, field names and versions, never config values (they may be secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.auth import Principal
from enrolsync.sync.store.tables import AuditEntry

ResourceType = Literal["connection", "pipeline", "run", "api_token"]


def record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: ResourceType,
    resource_id: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the session; the caller's commit writes it with the change it describes.

    Args:
        action: `<resource>.<verb>`, e.g. `pipeline.update`, `run.approve`.
        detail: ids, versions and field names only; never values a user typed in.
    """
    entry = AuditEntry(
        at=at,
        actor=principal.subject,
        actor_name=principal.name,
        role=principal.role.value,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        detail=dict(detail or {}),
    )
    session.add(entry)
    return entry
