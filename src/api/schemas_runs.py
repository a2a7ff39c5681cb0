"""Response models of runs: a run with its progress, counts, the deletion guard's verdict and who steered it; one
logged operation. (`RunCreate`, the request, is in `schemas.py` with the other request models.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from enrolsync.sync.run.planning import LISTED as LISTED_AT_MOST
from enrolsync.sync.store.tables import RunMode, RunScope

LISTED = f"the first {LISTED_AT_MOST}; the count beside them is exact"


class RunProgress(BaseModel):
    """Live while the run executes."""

    people_read: int
    ops_planned: int
    ops_applied: int = Field(description="Operations done or found already done on the target.")


class PeopleCounts(BaseModel):
    invalid: int = Field(default=0, description="Skipped: their HR record does not map (reason on their status).")
    conflicts: int = Field(default=0, description="Skipped: matching was ambiguous; they are listed in `conflicted`.")
    rejected: int = Field(default=0, description="Records the source could not read; they are listed in `rejected`.")


class RejectedRecord(BaseModel):
    """A record the source skipped as invalid: where it is, which field, why (never the value)."""

    line: int | None = Field(default=None, description="The file line the record starts on (1 is the header).")
    field: str | None = Field(default=None, description="The person field at fault; null for the whole record.")
    reason: str
    hr_id: str | None = Field(default=None, description="The person it names, when that much was readable.")


class UnresolvedCourse(BaseModel):
    """A course a rule names that is not exactly one course of the target; its enrolments were not planned."""

    rule: str = Field(description="The rule's name.")
    course: str = Field(description="The course as the rule names it.")
    reason: str = Field(description="`unknown`, or `ambiguous: <course ids>` when several courses have that key.")


class CourseResolution(BaseModel):
    """How the rules' course names were resolved against the target's courses for this run."""

    resolved: dict[str, str] = Field(default_factory=dict, description="Course name in a rule -> course id.")
    unresolved: list[UnresolvedCourse] = Field(default_factory=list)


class RunCounters(BaseModel):
    """What planning counted, each count once. Operations by kind and outcome are the run's `ops`."""

    people: PeopleCounts = Field(default_factory=PeopleCounts)
    awaiting_start: int = Field(default=0, description="Future hires not yet within the provisioning lead time.")
    kept_started: int = Field(default=0, description="Unenrolments not planned: the learner had started the course.")
    drift: dict[str, int] = Field(
        default_factory=dict,
        description="Hand-made changes found on the target by a full run, by operation kind (repaired unless the "
        "drift policy is `report`), and `account_missing`.",
    )
    courses: CourseResolution | None = Field(
        default=None,
        description="Present when the target lists its courses (e.g. Moodle): rules may name a course by its id or "
        "by a key the target knows it by (Moodle shortname or ID number), resolved once per run.",
    )


class GuardVerdictPublic(BaseModel):
    """The deletion guard's verdict on the run's plan."""

    blocked: bool = Field(
        description="The plan needs an operator's approval to apply: it deactivates more accounts than the "
        "pipeline allows, or every active account, or acts on an empty answer from the HR system. A dry run "
        "only reports it; an applied run stops as `blocked`."
    )
    deactivations: int = Field(description="Accounts the plan deactivates.")
    allowed: int = Field(description="Deactivations the pipeline allows without approval.")
    reason: str | None = Field(description="Why the plan is blocked; null when it is not.")
    hr_ids: list[str] = Field(description=f"The people the plan deactivates ({LISTED}).")


class RunApproval(BaseModel):
    """An operator let a run the deletion guard blocked apply its plan as it stands."""

    by: str = Field(description="Who: `token:<id>` for an API token, `oidc:<subject>` for an OIDC user.")
    at: datetime


class RunPublic(BaseModel):
    id: str
    pipeline_id: str
    pipeline_version: int
    status: str = Field(description="queued, running, blocked, succeeded, partially_failed, failed or cancelled.")
    trigger: str
    mode: RunMode = Field(description="`plan` is a dry run: it stops at the plan.")
    scope: RunScope = Field(description="`people`: only the people in `hr_ids`.")
    hr_ids: list[str]
    progress: RunProgress
    ops: dict[str, dict[str, int]] = Field(
        description="Operations by kind, then by outcome (planned, done, already, failed, not_attempted)."
    )
    counters: RunCounters
    conflicted: list[str] = Field(description=f"People skipped because matching was ambiguous ({LISTED}).")
    rejected: list[RejectedRecord] = Field(
        default_factory=list,
        description=f"Records the source could not read (a bad row of a file), skipped while the rest went through "
        f"({LISTED}). A person a rejected record names keeps their last read state.",
    )
    guard: GuardVerdictPublic | None = Field(description="The deletion guard's verdict; null until planned.")
    blocked_reason: str | None = Field(
        default=None,
        description="Why the run stopped as `blocked` and waits for an operator's approval (the deletion guard's "
        "reason); null unless the run is blocked.",
    )
    approval: RunApproval | None = Field(description="Set once an operator approved the blocked run.")
    cancelled_by: str | None = Field(description="Who cancelled the run.")
    applied_by: str | None = Field(description="Who asked for this run to apply the dry run `plan_run_id`.")
    error: str | None
    plan_run_id: str | None = Field(description="The dry run whose operations this run applies.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None = Field(description="From start to finish (or to now, while running).")


class RunOpPublic(BaseModel):
    id: int
    seq: int
    hr_id: str
    kind: str
    op: dict[str, Any] = Field(description="The exact operation handed to the target.")
    status: str = Field(description="planned, done, already, failed or not_attempted.")
    attempts: int
    last_error: str | None
    ref: str | None
    updated_at: datetime
