"""Response models of the people and teams views: one person's sync status with its explanation, and a team."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from enrolsync.api.schemas_insights import ProgressWord, TeamSummaryPublic
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.explain import RuleVerdict

SyncState = Literal["in_sync", "pending", "error"]

SYNC_STATE_DESCRIPTION = (
    "`in_sync`: the target holds what the rules want; `pending`: the next run has operations for this person "
    "(listed in `pending`); `error`: the last run or the person's HR data failed (see `last_error`)."
)

SituationCode = Literal[
    "unreadable_record",
    "invalid_hr_data",
    "gone_from_hr",
    "matching_conflict",
    "failed",
    "awaiting_start",
    "not_managed",
    "left_before_provisioning",
    "leaver",
    "leaver_deleted",
    "on_leave_suspended",
    "not_provisioned",
    "pending",
    "in_sync",
]
SITUATION_CODES = (
    "`gone_from_hr`: deleted in the HR system, a leaver until it shows them again; `matching_conflict`: matching "
    "found several accounts (or one another person holds); `invalid_hr_data`, `unreadable_record`, `failed`: see "
    "`situation_detail`; `awaiting_start`: a future hire outside the lead time; `not_managed`: a leaver under "
    "the `ignore` policy; `left_before_provisioning`: terminated before any account was made, so none is; "
    "`leaver`: the account is suspended; `leaver_deleted`: a leaver under the `delete` policy, whose account is "
    "deleted (or is about to be: see `pending`); `on_leave_suspended`: on leave under the `suspend` policy; "
    "`not_provisioned`: the pipeline does not provision people without an account; `pending`, `in_sync`: as "
    "`sync_state`."
)


class PersonOpPublic(BaseModel):
    """One operation for this person in a recent run."""

    run_id: str
    run_mode: str
    run_status: str
    run_created_at: datetime
    seq: int
    kind: str
    status: str = Field(description="planned, done, already, failed or not_attempted.")
    op: dict[str, Any]
    last_error: str | None
    updated_at: datetime


class PersonStatusPublic(BaseModel):
    """Everything about one person in one pipeline: what HR says, what the rules want, what the target holds."""

    pipeline_id: str
    pipeline_version: int
    hr_id: str
    person: dict[str, Any] = Field(description="The person as last read from the HR system.")
    gone_from_hr_at: datetime | None = Field(
        default=None,
        description="When the HR system stopped returning the person (deleted there); null while it returns them. "
        "A person gone from HR is treated as a leaver until it shows them again.",
    )
    account_id: str | None = Field(description="The person's account on the learning platform, once linked.")
    situation: SituationCode = Field(
        default="in_sync", description=f"Why the person is in this state, as a code. {SITUATION_CODES}"
    )
    situation_detail: str = Field(default="", description="The same in words, with the dates and errors involved.")
    desired: DesiredState | None = Field(
        description="What the pipeline's current rules want the target to hold; null when the person is not managed."
    )
    desired_error: str | None = Field(description="Why no desired state could be computed (incomplete HR data).")
    awaiting_start: bool = Field(
        description="A future hire not yet within the pipeline's lead time: not provisioned until then."
    )
    applied: DesiredState | None = Field(description="What was last applied to (or observed on) the account.")
    sync_state: SyncState = Field(description=SYNC_STATE_DESCRIPTION)
    pending: list[dict[str, Any]] = Field(description="The operations the next run would plan for this person.")
    last_error: str | None
    last_error_at: datetime | None
    direct_reports: list[str] = Field(description="hr_ids of the person's direct reports (not terminated).")
    explanation: list[RuleVerdict] = Field(
        description="Every rule of the pipeline evaluated for this person: whether it matched and each condition's "
        "actual against expected value."
    )
    operations: list[PersonOpPublic] = Field(description="This person's operations in the latest runs, newest first.")


class EnrolmentStatus(BaseModel):
    course: str
    desired: bool = Field(description="The rules want the person enrolled.")
    applied: bool = Field(description="The enrolment was applied to the target.")
    # Read back from the learning platform on full runs (issue 16); null before the first read.
    progress: ProgressWord | None = None
    completed_at: datetime | None = None
    last_activity_at: datetime | None = None
    percent: float | None = None
    due_on: date | None = Field(default=None, description="The due date the rules set (tracked by enrolsync).")
    overdue: bool = Field(default=False, description="Not completed and past `due_on` (today, by the service clock).")


class TeamMemberPublic(BaseModel):
    hr_id: str
    manager_hr_id: str | None
    level: int = Field(description="1 for a direct report, 2 for their reports, and so on.")
    name: str
    job_title: str | None
    status: str = Field(description="The person's HR status (active, leave, terminated).")
    account_id: str | None
    sync_state: SyncState = Field(description=SYNC_STATE_DESCRIPTION)
    enrolments: list[EnrolmentStatus]
    last_error: str | None
    last_error_at: datetime | None


class TeamPublic(BaseModel):
    pipeline_id: str
    manager_hr_id: str
    depth: int
    members: list[TeamMemberPublic] = Field(description="Breadth first: direct reports, then their reports, ...")
    truncated: bool = Field(description="True when the team has more members than one answer lists.")
    summary: TeamSummaryPublic = Field(description="Progress of the members listed, per course.")


class PersonFoundPublic(BaseModel):
    """A person found by a lookup, with enough to tell them apart; `GET .../people/{hr_id}` says everything."""

    hr_id: str
    name: str
    work_email: str | None
    account_id: str | None = Field(description="The person's account on the learning platform, once linked.")
    sync_state: SyncState = Field(description=SYNC_STATE_DESCRIPTION)
    gone_from_hr_at: datetime | None = Field(description="When the HR system stopped returning the person.")


class PeopleFoundPublic(BaseModel):
    items: list[PersonFoundPublic] = Field(
        description="Everyone the lookup matched, by hr_id (work emails may repeat)."
    )
