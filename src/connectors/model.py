"""Domain nouns shared by every connector and the sync engine.

These are canonical records: vendor wire models are converted to and from them inside each connector folder
(`mapping.py`), so vendor schema churn never reaches the engine. All models are frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonStatus(StrEnum):
    ACTIVE = "active"
    LEAVE = "leave"
    TERMINATED = "terminated"


class Person(Frozen):
    """A person as an HR system knows them: the canonical record every source yields."""

    hr_id: str = Field(min_length=1, description="Stable id in the HR system (never reused).")
    given_name: str = ""
    family_name: str = ""
    work_email: str | None = None
    username: str | None = Field(default=None, description="Username or UPN used to sign in.")
    status: PersonStatus = PersonStatus.ACTIVE
    department: str | None = None
    job_title: str | None = None
    location: str | None = None
    manager_hr_id: str | None = None
    hire_date: date | None = None
    termination_date: date | None = None
    employee_number: str | None = None
    custom: Mapping[str, str] = Field(default_factory=dict)


class AccountFields(Frozen):
    """The profile fields enrolsync manages on a target account."""

    username: str
    given_name: str
    family_name: str
    email: str
    external_id: str | None = Field(default=None, description="Where the HR id is written (Moodle idnumber).")
    auth: str | None = Field(default=None, description="Target auth method, e.g. 'manual', 'saml2', 'oidc'.")
    department: str | None = None
    job_title: str | None = None
    location: str | None = None


class Account(Frozen):
    """An account as a target holds it."""

    account_id: str
    fields: AccountFields
    active: bool = True


class Enrolment(Frozen):
    account_id: str
    course_id: str
    started: bool = Field(default=False, description="Progress exists; removal policy keeps started enrolments.")


class Course(Frozen):
    """A course as a target lists it: its id (what enrolments name) and the other keys admins know it by."""

    course_id: str
    name: str = ""
    keys: dict[str, str] = Field(
        default_factory=dict, description="Human keys by kind, e.g. {'shortname': 'SAFETY-101', 'idnumber': 'S1'}."
    )


class RoleScope(StrEnum):
    SYSTEM = "system"
    COURSE = "course"
    USER = "user"


class RoleAssignment(Frozen):
    """A logical role (learner, manager, instructor, admin) held by an account in a scope.

    For `USER` scope, `scope_id` is the account id of the person the role is held over (a direct report).
    `confirmed` is False when the target only knows the role *may* be held: a target that keeps its own record of
    what it assigned (Moodle's role mirror) lists an assignment whose write was never settled that way, and the
    engine settles it on the next full run (granted again if still wanted, else revoked).
    """

    account_id: str
    role: str
    scope: RoleScope = RoleScope.SYSTEM
    scope_id: str | None = None
    confirmed: bool = True


class GroupMembership(Frozen):
    account_id: str
    group_id: str


class SsoIdentity(Frozen):
    account_id: str
    auth: str
    subject: str


class AccountRecord(Frozen):
    """An account read by its id, with the SSO identity the same read shows (`AccountLookup.read_accounts`)."""

    account: Account
    sso: SsoIdentity | None = Field(default=None, description="None: the account signs in internally.")


class ExternalRef(Frozen):
    """A pointer to an object in the remote system, e.g. the account a create produced."""

    kind: Literal["account", "enrolment", "role", "group", "sso"]
    id: str


class Rejected(Frozen):
    """A record the source could not turn into a person (a bad row of a file): where, which field, why.

    The reason never quotes the value (it may be personal data). A rejected record that names its person keeps
    that person as last read: someone whose row is broken today is not a leaver.
    """

    line: int | None = Field(default=None, description="Line of the file the record starts on (1 = header).")
    field: str | None = Field(default=None, description="The person field (or column) at fault, if one.")
    reason: str
    hr_id: str | None = None


class Page(BaseModel, Generic[T]):
    """One page of a source read. `checkpoint` resumes the read right after this page.

    `removed` names hr_ids the source reports as deleted outright (not merely terminated): the engine treats
    them as leavers. `rejected` lists records the source skipped as invalid; the run reports them.
    """

    model_config = ConfigDict(frozen=True)
    items: tuple[T, ...]
    checkpoint: str | None = None
    removed: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()


class HrEventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class HrEvent(Frozen):
    """A verified HR change notification. Thin by design: the engine re-reads the person."""

    event_id: str
    kind: HrEventKind
    hr_id: str
    occurred_at: datetime | None = None


class RawRequest(Frozen):
    """An inbound webhook call exactly as received: signatures are checked over these raw bytes."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


class CheckResult(Frozen):
    ok: bool
    detail: str
    facts: Mapping[str, Any] = Field(default_factory=dict)


class ProgressState(StrEnum):
    """Where a learner stands in an enrolled course, as the LMS reports it (read, never written)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class Progress(Frozen):
    """One enrolment's progress as a target reports it (iff PROGRESS, `base.ProgressReader`).

    `completed_at` is set for `COMPLETED` (and `FAILED` where the LMS dates it); `last_activity_at` is the
    learner's last visit to the course when the LMS records one. `percent` is the LMS's own figure, if any.
    """

    account_id: str
    course_id: str
    state: ProgressState = ProgressState.NOT_STARTED
    completed_at: datetime | None = None
    last_activity_at: datetime | None = None
    percent: float | None = Field(default=None, ge=0, le=100)
