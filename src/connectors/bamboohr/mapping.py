"""Pure conversions: dataset rows -> `Person`, webhook payloads -> `HrEvent`, checkpoints <-> cursors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from enrolsync.connectors.bamboohr.config import BambooHRFieldNames
from enrolsync.connectors.bamboohr.models import Checkpoint, EventPayload, LegacyPayload, Value
from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.kit.instants import parse_instant
from enrolsync.connectors.model import HrEvent, HrEventKind, Person, PersonStatus

_EVENT_KINDS = {
    "employee.created": HrEventKind.CREATED,
    "employee.updated": HrEventKind.UPDATED,
    "employee.deleted": HrEventKind.DELETED,
}
_LEGACY_KINDS = {"created": HrEventKind.CREATED, "inserted": HrEventKind.CREATED, "deleted": HrEventKind.DELETED}


def clean(value: Value) -> str | None:
    """A field's text, or None when empty."""
    if value is None:
        return None
    text = value.strip()
    return text or None


def parse_date(value: Value) -> date | None:
    """A `YYYY-MM-DD` date; BambooHR writes an unset date as `0000-00-00`, read as None like any bad date."""
    text = clean(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def person_status(
    row: Mapping[str, Value], names: BambooHRFieldNames, *, leave_statuses: Iterable[str], today: date
) -> PersonStatus:
    """Active/Inactive decides; leave comes from the employment status; dates decide only when status is unset.

    BambooHR flips `status` on the termination date, so a future termination is still active. Future hires are
    `Inactive` too until their start date (BambooHR has no "not started" state): an Inactive row whose hire
    date is today or ahead, and after any termination date (a rehire), is a future joiner, read as active with
    that hire date; the engine decides when to provision them (the pipeline's lead time).
    """
    state = (clean(row.get(names.status)) or "").casefold()
    ended = parse_date(row.get(names.termination_date)) if names.termination_date else None
    hired = parse_date(row.get(names.hire_date)) if names.hire_date else None
    if state == "inactive" and not _future_joiner(hired, ended, today):
        return PersonStatus.TERMINATED
    rehired = hired is not None and ended is not None and hired > ended
    if state not in ("active", "inactive") and ended is not None and ended <= today and not rehired:
        return PersonStatus.TERMINATED
    employment = clean(row.get(names.employment_status)) if names.employment_status else None
    if employment and employment.casefold() in {status.casefold() for status in leave_statuses}:
        return PersonStatus.LEAVE
    return PersonStatus.ACTIVE


def _future_joiner(hired: date | None, ended: date | None, today: date) -> bool:
    # The start day itself counts: BambooHR flips the status during that day, maybe after our read.
    return hired is not None and hired >= today and (ended is None or ended < hired)


def to_person(
    row: Mapping[str, Value], names: BambooHRFieldNames, *, leave_statuses: Iterable[str], today: date
) -> Person | None:
    """One dataset row as a `Person`; None for a row without an employee id (nothing could link it)."""
    hr_id = clean(row.get(names.hr_id))
    if hr_id is None:
        return None

    def text(name: str | None) -> str | None:
        return clean(row.get(name)) if name else None

    manager = text(names.manager_hr_id)
    custom = {key: value for key, field in names.custom.items() if (value := clean(row.get(field))) is not None}
    return Person(
        hr_id=hr_id,
        given_name=text(names.first_name) or "",
        family_name=text(names.last_name) or "",
        work_email=text(names.work_email),
        username=text(names.username),
        status=person_status(row, names, leave_statuses=leave_statuses, today=today),
        department=text(names.department),
        job_title=text(names.job_title),
        location=text(names.location),
        # "0" is how some exports spell "no supervisor"; nobody manages themselves.
        manager_hr_id=manager if manager not in (None, "0", hr_id) else None,
        hire_date=parse_date(row.get(names.hire_date)) if names.hire_date else None,
        termination_date=parse_date(row.get(names.termination_date)) if names.termination_date else None,
        employee_number=text(names.employee_number),
        custom=custom,
    )


def _event_id(content: Mapping[str, Any]) -> str:
    # BambooHR sends no event id: hash the payload's meaning (not its bytes) so a redelivery de-duplicates.
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return "bamboohr-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def events_from_body(body: bytes) -> list[HrEvent]:
    """HR events named by a verified webhook body (event-based or field-based JSON). Raises `Invalid`."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid("webhook body is not JSON; set the webhook format to json") from exc
    if not isinstance(payload, dict):
        raise Invalid("webhook body is not a JSON object")
    try:
        if "employees" in payload:
            return _legacy_events(LegacyPayload.model_validate(payload))
        if isinstance(payload.get("type"), str):
            # Other event families (company.*) may share the endpoint; they name no person.
            if payload["type"] not in _EVENT_KINDS:
                return []
            return [_new_event(EventPayload.model_validate(payload))]
    except ValidationError as exc:
        raise Invalid("webhook payload does not have the documented shape") from exc
    raise Invalid("webhook payload is neither an event nor a field-based payload")


def _new_event(payload: EventPayload) -> HrEvent:
    return HrEvent(
        event_id=_event_id(payload.model_dump(by_alias=True)),
        kind=_EVENT_KINDS[payload.type],
        hr_id=payload.data.employee_id,
        occurred_at=parse_instant(payload.timestamp),
    )


def _legacy_events(payload: LegacyPayload) -> list[HrEvent]:
    return [
        HrEvent(
            event_id=_event_id(entry.model_dump(by_alias=True)),
            kind=_LEGACY_KINDS.get(entry.action.strip().casefold(), HrEventKind.UPDATED),
            hr_id=entry.id,
            occurred_at=parse_instant(entry.timestamp),
        )
        for entry in payload.employees
    ]


def encode_cursor(checkpoint: Checkpoint) -> Cursor:
    return Cursor(checkpoint.model_dump_json(exclude_none=True))


def decode_cursor(cursor: str) -> Checkpoint:
    """Parse a cursor this connector made. Raises `Invalid` for anything else."""
    try:
        checkpoint = Checkpoint.model_validate_json(cursor)
    except ValidationError as exc:
        raise Invalid("not a BambooHR cursor") from exc
    if (checkpoint.since is None) == (checkpoint.full_page is None):
        raise Invalid("not a BambooHR cursor: it must hold either since or full_page")
    return checkpoint
