"""Pure conversions: Bob employees (JSON objects keyed by field path) -> `Person`, webhook bodies -> `HrEvent`,
checkpoints <-> cursors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.models import Checkpoint, EventPayload
from enrolsync.connectors.kit.instants import parse_instant
from enrolsync.connectors.model import HrEvent, HrEventKind, Person, PersonStatus

READABLE = "humanReadable"
"""The node `humanReadable: APPEND` adds to each employee, holding the same paths with display values."""
_MISSING = object()
_KINDS = {"employee.created": HrEventKind.CREATED, "employee.deleted": HrEventKind.DELETED}
# Everything else about one employee (employee.updated, the lifecycle events employee.joined/left/activated/
# inactivated, table.entry.created/updated) is a change to re-read:
# https://apidocs.hibob.com/reference/employee-data-webhooks
_EMPLOYEE_EVENTS = ("employee.", "table.entry.")
PING = "Ping test"
"""Bob's test call when a webhook is saved (https://apidocs.hibob.com/docs/working-with-webhooks)."""


def lookup(employee: Mapping[str, Any], path: str) -> Any:
    """The value at a field path, or `_MISSING` when the key is absent (HiBob leaves out fields the service user
    may not see, and sends null for permitted empty ones). `root.x` lives at the top level."""
    node: Any = employee
    parts = path.split(".")
    for part in parts[1:] if parts[0] == "root" else parts:
        # dict, not the Mapping ABC: parsed JSON is dicts, and ABC checks cost a tenth of a read's time.
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def omitted(employee: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    """The paths absent from an employee: fields the service user's permission group does not grant."""
    return [path for path in paths if lookup(employee, path) is _MISSING]


def text(value: Any) -> str | None:
    """A value's text, or None when empty; numbers read as their text (`employeeIdInCompany` is a number)."""
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    result = str(value).strip()
    return result or None


def label(employee: Mapping[str, Any], path: str | None) -> str | None:
    """A list field's display value: the humanReadable node's when present (APPEND), else the value itself."""
    if path is None:
        return None
    readable = employee.get(READABLE)
    if isinstance(readable, dict) and (shown := text(lookup(readable, path))) is not None:
        return shown
    return text(lookup(employee, path))


def parse_date(value: Any) -> date | None:
    """A machine-format `YYYY-MM-DD` date; anything else (REPLACE mode's display dates) reads as None."""
    raw = text(value)
    try:
        return date.fromisoformat(raw[:10]) if raw else None
    except ValueError:
        return None


def reference(value: Any) -> str | None:
    """An employee reference's backend id: `work.reportsTo` is `{id, displayName, ...}` in machine format and a
    name in REPLACE mode (no id to link), `work.manager` an id string."""
    if isinstance(value, dict):
        return text(value.get("id"))
    found = text(value)
    return found if found is not None and found.isdigit() else None


def _normal(status: str | None) -> str:
    return " ".join((status or "").replace("_", " ").replace("-", " ").casefold().split())


def person_status(employee: Mapping[str, Any], config: HiBobConfig, *, today: date) -> PersonStatus:
    """The lifecycle status decides: Terminated -> terminated, Leave/Parental/Garden leave (configurable) -> leave,
    Hired (a future start) and Employed -> active. Without a lifecycle value, an Inactive access status with a
    termination date reached means terminated (https://help.hibob.com/hc/en-us/articles/4409776355857)."""
    paths = config.fields
    lifecycle = _normal(label(employee, paths.lifecycle_status))
    if lifecycle in {_normal(s) for s in config.terminated_statuses}:
        return PersonStatus.TERMINATED
    if lifecycle in {_normal(s) for s in config.leave_statuses}:
        return PersonStatus.LEAVE
    if lifecycle:
        return PersonStatus.ACTIVE
    ended = parse_date(lookup(employee, paths.termination_date)) if paths.termination_date else None
    access = _normal(label(employee, paths.access_status))
    if access == "inactive" and ended is not None and ended <= today:
        return PersonStatus.TERMINATED
    return PersonStatus.ACTIVE


def to_person(employee: Mapping[str, Any], config: HiBobConfig, *, today: date) -> Person | None:
    """One employee as a `Person`; None for one without a backend id (nothing could link it)."""
    paths = config.fields
    hr_id = text(lookup(employee, paths.hr_id))
    if hr_id is None:
        return None

    def plain(path: str | None) -> str | None:
        return text(lookup(employee, path)) if path else None

    manager = reference(lookup(employee, paths.manager_hr_id)) if paths.manager_hr_id else None
    custom = {key: value for key, path in paths.custom.items() if (value := label(employee, path)) is not None}
    return Person(
        hr_id=hr_id,
        given_name=plain(paths.first_name) or "",
        family_name=plain(paths.last_name) or "",
        work_email=plain(paths.work_email),
        username=plain(paths.username),
        status=person_status(employee, config, today=today),
        department=label(employee, paths.department),
        job_title=label(employee, paths.job_title),
        location=label(employee, paths.location),
        manager_hr_id=manager if manager != hr_id else None,
        hire_date=parse_date(lookup(employee, paths.hire_date)) if paths.hire_date else None,
        termination_date=parse_date(lookup(employee, paths.termination_date)) if paths.termination_date else None,
        employee_number=plain(paths.employee_number),
        custom=custom,
    )


def _event_id(payload: Mapping[str, Any]) -> str:
    # Bob sends no event id: hash the payload's meaning (not its bytes) so a redelivery de-duplicates.
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "hibob-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def is_ping(body: bytes) -> bool:
    """Bob's webhook test: the plain string `Ping test`, or `{"text": "Ping test"}` when that was refused."""
    stripped = body.strip()
    if stripped in (PING.encode(), json.dumps(PING).encode()):
        return True
    try:
        payload = json.loads(stripped)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(payload, dict) and payload.get("text") == PING and "type" not in payload


def events_from_body(body: bytes) -> list[HrEvent]:
    """HR events named by a verified webhook body; none for a ping or an event about no employee. Raises `Invalid`."""
    if is_ping(body):
        return []
    try:
        raw = json.loads(body)
        payload = EventPayload.model_validate(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise Invalid("webhook body is not a Bob event") from exc
    hr_id = payload.employee_id()
    if hr_id is None or not payload.type.startswith(_EMPLOYEE_EVENTS):
        return []  # time off, tasks and the like name no person to re-read
    return [
        HrEvent(
            event_id=_event_id(raw),
            kind=_KINDS.get(payload.type, HrEventKind.UPDATED),
            hr_id=hr_id,
            occurred_at=parse_instant(payload.triggered_at),
        )
    ]


def encode_cursor(checkpoint: Checkpoint) -> Cursor:
    return Cursor(checkpoint.model_dump_json())


def decode_cursor(cursor: str) -> Checkpoint:
    """Parse a cursor this connector made. Raises `Invalid` for anything else."""
    try:
        return Checkpoint.model_validate_json(cursor)
    except ValidationError as exc:
        raise Invalid("not a HiBob cursor") from exc
