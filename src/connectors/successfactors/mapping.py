"""Pure conversions: OData v2 values and query literals, EC records -> `Person`, checkpoints <-> cursors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.models import Checkpoint

Record = Mapping[str, Any]
_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$")
NO_MANAGER = "NO_MANAGER"
"""EC's `managerId` for someone without a manager."""
USER_STATUSES = ("t", "f", "T", "F", "e", "d")
"""Every `User.status`: SF answers only active users unless the filter names the status (SAP KBA 2554717)."""
_INACTIVE_USERS = frozenset({"f", "F", "d"})


def edm_instant(value: Any) -> datetime | None:
    """An OData v2 JSON date (`/Date(ms)/` or `/Date(ms+0000)/`) as tz-aware UTC; None when absent or unreadable.

    The offset (minutes) says in which zone the instant was entered; the milliseconds are UTC either way."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if match is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match["ms"]))


def edm_date(value: Any) -> date | None:
    """An `Edm.DateTime` holding a calendar day (EC writes midnight UTC), or None."""
    moment = edm_instant(value)
    return moment.date() if moment else None


def literal(value: str) -> str:
    """An OData string literal: single quotes, a quote inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def any_of(prop: str, values: Iterable[str]) -> str:
    """SF's `in` operator (an OData v2 extension), e.g. `userId in 'a','b'`."""
    return f"{prop} in " + ",".join(literal(v) for v in values)


def changed_after(prop: str, moment: datetime) -> str:
    return f"{prop} gt datetimeoffset'{moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def midnight(day: date) -> str:
    return f"datetime'{day.isoformat()}T00:00:00'"


def text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    found = str(value).strip()
    return found or None


def nested(record: Record, nav: str) -> list[Record]:
    """An expanded to-many navigation's records (`{"results": [...]}`), or an expanded to-one as a list of one."""
    value = record.get(nav)
    if isinstance(value, dict):
        results = value.get("results")
        if isinstance(results, list):
            return [r for r in results if isinstance(r, dict)]
        return [] if "__deferred" in value else [value]
    return []


def in_force(segments: Sequence[Record], today: date) -> Record | None:
    """The effective-dated segment in force on `today` (the highest `seqNumber` of that day wins)."""
    found = [s for s in segments if _covers(s, today)]
    return max(
        found, key=lambda s: (edm_date(s.get("startDate")) or date.min, int(s.get("seqNumber") or 0)), default=None
    )


def _covers(segment: Record, day: date) -> bool:
    start, end = edm_date(segment.get("startDate")), edm_date(segment.get("endDate"))
    return start is not None and start <= day and (end is None or day <= end)


def upcoming(segments: Sequence[Record], today: date) -> Record | None:
    """The first segment that starts after `today` (a future hire's first job)."""
    ahead = [s for s in segments if (edm_date(s.get("startDate")) or date.min) > today]
    return min(ahead, key=lambda s: edm_date(s.get("startDate")) or date.max, default=None)


@dataclass(frozen=True)
class Bundle:
    """One person's records from the entities read: their employment (with `jobInfoNav` expanded), their user, and
    their person (with `personalInfoNav` and `emailNav` expanded)."""

    employment: Record
    user: Record | None
    person: Record | None


def person_status(bundle: Bundle, config: SuccessFactorsConfig, today: date) -> PersonStatus:
    """Terminated once the employment's `endDate` (the last day) has passed or the job in force says so; on leave
    when the job in force has a leave status; a future hire (no job yet in force) is active; without jobs the
    user's login status decides."""
    ended = edm_date(bundle.employment.get("endDate"))
    if ended is not None and ended < today:
        return PersonStatus.TERMINATED
    jobs = nested(bundle.employment, "jobInfoNav")
    job = in_force(jobs, today)
    if job is not None:
        code = text(job.get("emplStatus")) or ""
        if code in config.terminated_statuses:
            return PersonStatus.TERMINATED
        return PersonStatus.LEAVE if code in config.leave_statuses else PersonStatus.ACTIVE
    if upcoming(jobs, today) is None and bundle.user is not None and bundle.user.get("status") in _INACTIVE_USERS:
        return PersonStatus.TERMINATED
    return PersonStatus.ACTIVE


def _names(bundle: Bundle, today: date) -> tuple[str, str, str | None]:
    personals = nested(bundle.person, "personalInfoNav") if bundle.person else []
    personal = in_force(personals, today) or (personals[-1] if personals else {})
    user = bundle.user or {}
    given = text(personal.get("preferredName")) or text(personal.get("firstName")) or text(user.get("firstName")) or ""
    family = text(personal.get("lastName")) or text(user.get("lastName")) or ""
    emails = nested(bundle.person, "emailNav") if bundle.person else []
    primary = next((e for e in emails if e.get("isPrimary") is True), None)
    email = text((primary or {}).get("emailAddress")) or text(user.get("email"))
    return given, family, email


def to_person(
    bundle: Bundle, config: SuccessFactorsConfig, *, today: date, managers: Mapping[str, str]
) -> Person | None:
    """One employment as a `Person` (hr_id = `personIdExternal`); None without a person id. `managers` maps user
    ids to person ids, so the manager's `hr_id` is the same kind of id as everyone's."""
    employment = bundle.employment
    hr_id = text(employment.get("personIdExternal"))
    if hr_id is None:
        return None
    jobs = nested(employment, "jobInfoNav")
    job = in_force(jobs, today) or upcoming(jobs, today) or (jobs[-1] if jobs else {})
    manager_user = text(job.get("managerId"))
    manager = managers.get(manager_user) if manager_user and manager_user != NO_MANAGER else None
    given, family, email = _names(bundle, today)
    user = bundle.user or {}
    custom = {key: value for key, prop in config.custom.items() if (value := text(job.get(prop))) is not None}
    return Person(
        hr_id=hr_id,
        given_name=given,
        family_name=family,
        work_email=email,
        username=text(user.get("username")),
        status=person_status(bundle, config, today),
        department=text(job.get("department")),
        job_title=text(job.get("jobTitle")),
        location=text(job.get("location")),
        manager_hr_id=manager if manager != hr_id else None,
        hire_date=edm_date(employment.get("startDate")),
        termination_date=edm_date(employment.get("endDate")),
        employee_number=text(user.get("empId")) or text(employment.get("userId")),
        custom=custom,
    )


def is_main(candidate: Person, *, over: Person) -> bool:
    """Whether `candidate` is a person's main employment rather than `over` (two employments of one person, e.g. a
    global assignment, read together): one not terminated wins, then the later hire."""
    rank = (candidate.status is not PersonStatus.TERMINATED, candidate.hire_date or date.min)
    return rank > (over.status is not PersonStatus.TERMINATED, over.hire_date or date.min)


def encode_cursor(checkpoint: Checkpoint) -> Cursor:
    return Cursor(checkpoint.model_dump_json(exclude_defaults=True))


def decode_cursor(cursor: str) -> Checkpoint:
    """Parse a cursor this connector made. Raises `Invalid` for anything else."""
    try:
        checkpoint = Checkpoint.model_validate_json(cursor)
    except ValidationError as exc:
        raise Invalid("not a SuccessFactors cursor") from exc
    if checkpoint.next is None and checkpoint.since is None:
        raise Invalid("not a SuccessFactors cursor: neither a page nor an instant to resume from")
    return checkpoint
