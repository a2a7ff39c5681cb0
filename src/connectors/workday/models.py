"""Workday wire records (private to this folder) and the connector's own cursor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class WorkerRecord:
    """What enrolsync reads of one `wd:Worker` from Get_Workers, as text (`"true"`/`"false"`, ISO dates)."""

    ids: Mapping[str, str]  # Worker_Reference IDs by type: WID, Employee_ID or Contingent_Worker_ID
    worker_id: str | None = None
    user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    preferred_first_name: str | None = None
    email: str | None = None
    active: str | None = None
    terminated: str | None = None
    hire_date: str | None = None
    termination_date: str | None = None
    on_leave: bool = False
    job_title: str | None = None
    location: str | None = None
    manager_ids: Mapping[str, str] = field(default_factory=dict)
    organizations: Mapping[str, str] = field(default_factory=dict)  # Organization_Type_ID -> Organization_Name


class Checkpoint(BaseModel):
    """What a Workday cursor holds.

    Mid full read: `page` (the next Get_Workers page), `entry` (the entry moment pinned for the whole read, so pages
    stay the same result set), `as_of` (the effective date read), `seen` and `total`; for RaaS, `skip` (report rows
    already yielded). After a read: `since` (the server instant the read began: the next incremental read asks for
    transactions entered or taking effect after it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    api: str
    page: int | None = None
    skip: int | None = None
    entry: str | None = None
    as_of: str | None = None
    seen: int = 0
    total: int | None = None
    since: str | None = None
