"""Pure conversion of Workday records (a Get_Workers worker, a RaaS report row) into persons, and the cursor.

Status, as Workday models it (as of the effective date read, today): `Terminated` true (or `Active` false) is a
leaver, with `Termination_Date` the last day of work; an open `Leave_Status_Data` with `On_Leave` true is on leave;
anyone else is active. A future-dated termination is not yet visible as of today: the worker reads active until
the day after the last day, when the transaction takes effect (the incremental read's effective-date window finds
it then). A future-dated hire is no worker as of today; it appears on its first day the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.connectors.workday.config import ReportFields
from enrolsync.connectors.workday.models import Checkpoint, WorkerRecord

TRUE = frozenset({"1", "true", "True", "TRUE", "Y", "Yes"})
SUPERVISORY, COST_CENTER = "SUPERVISORY", "COST_CENTER"


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _status(*, active: str | None, terminated: str | None, on_leave: bool) -> PersonStatus:
    if terminated in TRUE or active in ("0", "false"):
        return PersonStatus.TERMINATED
    return PersonStatus.LEAVE if on_leave else PersonStatus.ACTIVE


def hr_id_of(record: WorkerRecord) -> str | None:
    """`Employee_ID` (or `Contingent_Worker_ID`): the id HR and admins know; WIDs are internal."""
    return record.ids.get("Employee_ID") or record.ids.get("Contingent_Worker_ID") or record.worker_id


def worker_to_person(record: WorkerRecord) -> Person | None:
    """A Get_Workers worker as a person; None for a worker without an employee id."""
    hr_id = hr_id_of(record)
    if not hr_id:
        return None
    status = _status(active=record.active, terminated=record.terminated, on_leave=record.on_leave)
    manager = record.manager_ids.get("Employee_ID") or record.manager_ids.get("Contingent_Worker_ID")
    cost_center = record.organizations.get(COST_CENTER)
    return Person(
        hr_id=hr_id,
        given_name=record.preferred_first_name or record.first_name or "",
        family_name=record.last_name or "",
        work_email=record.email or None,
        username=record.user_id or None,
        status=status,
        department=record.organizations.get(SUPERVISORY) or None,
        job_title=record.job_title or None,
        location=record.location or None,
        manager_hr_id=manager if manager and manager != hr_id else None,
        hire_date=_date(record.hire_date),
        termination_date=_date(record.termination_date) if status is PersonStatus.TERMINATED else None,
        employee_number=hr_id,
        custom={"cost_centre": cost_center} if cost_center else {},
    )


def column(row: Mapping[str, Any], alias: str | None) -> str | None:
    """A report column's value as text; `group/field` reads the first entry of a multi-instance `_group`."""
    if alias is None:
        return None
    group, _, name = alias.partition("/")
    value: Any = row.get(group)
    if name:
        entries = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        value = next((e.get(name) for e in entries if isinstance(e, dict) and e.get(name) not in (None, "")), None)
    if value is None or isinstance(value, (list, dict)):
        return None
    text = str(value).strip()
    return text or None


def row_to_person(row: Mapping[str, Any], fields: ReportFields, custom: Mapping[str, str]) -> Person | None:
    """A RaaS `Report_Entry` as a person; None for a row without an employee id."""
    hr_id = column(row, fields.employee_id)
    if not hr_id:
        return None
    status = _status(
        active=column(row, fields.active), terminated=column(row, fields.terminated),
        on_leave=column(row, fields.on_leave) in TRUE,
    )  # fmt: skip
    manager = column(row, fields.manager_id)
    extra = {key: value for key, alias in custom.items() if (value := column(row, alias))}
    return Person(
        hr_id=hr_id,
        given_name=column(row, fields.first_name) or "",
        family_name=column(row, fields.last_name) or "",
        work_email=column(row, fields.email),
        username=column(row, fields.username),
        status=status,
        department=column(row, fields.department),
        job_title=column(row, fields.job_title),
        location=column(row, fields.location),
        manager_hr_id=manager if manager != hr_id else None,
        hire_date=_date(column(row, fields.hire_date)),
        termination_date=_date(column(row, fields.termination_date)) if status is PersonStatus.TERMINATED else None,
        employee_number=hr_id,
        custom=extra,
    )


def encode_cursor(checkpoint: Checkpoint) -> Cursor:
    return Cursor(checkpoint.model_dump_json(exclude_defaults=True))


def decode_cursor(cursor: str, api: str) -> Checkpoint:
    """Parse a cursor this connector made for `api`. Raises `Invalid` for anything else."""
    try:
        checkpoint = Checkpoint.model_validate_json(cursor)
    except ValidationError as exc:
        raise Invalid("not a Workday cursor") from exc
    if checkpoint.api != api:
        raise Invalid(f"a Workday cursor of the {checkpoint.api} read, not {api}: start with a full read")
    if checkpoint.since is None and checkpoint.page is None and checkpoint.skip is None:
        raise Invalid("not a Workday cursor: nothing to resume from")
    return checkpoint
