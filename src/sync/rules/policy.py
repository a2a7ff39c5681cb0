"""Pipeline policies: what the engine does with unmatched people, leavers, people on leave and removed courses.

Policies are enums (after Syncope's matching rules) so a pipeline document states them as data, and the deletion
guard is a threshold checked by `plan.guard` before any deactivation is applied.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MatchKey(StrEnum):
    """How a person is first paired with an existing target account; tried in the pipeline's order."""

    EXTERNAL_ID = "external_id"
    EMAIL = "email"
    USERNAME = "username"


class UnmatchedPolicy(StrEnum):
    """A person with no account on the target yet."""

    PROVISION = "provision"
    IGNORE = "ignore"


class LeaverPolicy(StrEnum):
    """A linked account whose person left (terminated) or vanished from the HR system.

    `DELETE` deletes the account (`DeleteUser`, on targets declaring `HARD_DELETE`; refused with 422 elsewhere),
    and with it, on most LMSs, the person's training records; deletions count against the deletion guard.
    """

    DEACTIVATE = "deactivate"
    IGNORE = "ignore"
    DELETE = "delete"


class OnLeavePolicy(StrEnum):
    """A person whose HR status is `leave`."""

    KEEP_ACTIVE = "keep_active"
    SUSPEND = "suspend"


class UnenrolPolicy(StrEnum):
    """An enrolment the rules no longer give an active person.

    `IF_NOT_STARTED` removes it unless the learner has started it (`Enrolment.started`): the planner asks the
    target before planning the removal, and the target itself refuses to remove a started enrolment, so a
    course started between plan and apply is kept too. A kept enrolment stays on the target and is no longer
    managed. Leavers are never unenrolled: their training records stay.
    """

    IF_NOT_STARTED = "if_not_started"
    NEVER = "never"


class DriftPolicy(StrEnum):
    """What a full run does about changes someone made by hand on the target (drift).

    `REPAIR` reads the target's actual state for linked accounts and plans ops that put it back (each marked
    `drift`); `REPORT` reads it and only counts the drift; `IGNORE` trusts the links and reads nothing.
    """

    REPAIR = "repair"
    REPORT = "report"
    IGNORE = "ignore"


class LogicalRole(StrEnum):
    """The role names rules speak; each target maps them to its own roles."""

    LEARNER = "learner"
    MANAGER = "manager"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeactivationGuard(_Policy):
    """A run may deactivate at most max(`percent`% of linked accounts, `min_count`) without an admin's approval."""

    percent: float = Field(default=10, ge=0, le=100)
    min_count: int = Field(default=25, ge=0)

    def allowed(self, linked_accounts: int) -> int:
        """The most deactivations one run may plan for a pipeline with `linked_accounts` linked accounts."""
        # Decimal over the float's shortest repr: 10% of 30 is exactly 3, not 2.9999999999999996.
        share = int(Decimal(repr(self.percent)) * max(linked_accounts, 0) / 100)
        return max(share, self.min_count)


class Policies(_Policy):
    """Every policy of a pipeline, with the defaults a new pipeline gets."""

    unmatched: UnmatchedPolicy = UnmatchedPolicy.PROVISION
    leaver: LeaverPolicy = LeaverPolicy.DEACTIVATE
    on_leave: OnLeavePolicy = OnLeavePolicy.KEEP_ACTIVE
    unenrol: UnenrolPolicy = UnenrolPolicy.IF_NOT_STARTED
    provision_days_before_start: int = Field(
        default=7,
        ge=0,
        le=366,
        description="A future hire gets their account this many days before their hire date (pre-boarding); "
        "before that they are not provisioned.",
    )
    drift: DriftPolicy = DriftPolicy.REPAIR
    share_accounts: bool = Field(
        default=False,
        description="An account another pipeline on the same target connection has linked is that pipeline's: "
        "matching it is reported as a conflict, so two pipelines never overwrite each other. True lets this "
        "pipeline link and manage such accounts too (both pipelines then write to them).",
    )
    deactivation_guard: DeactivationGuard = Field(default_factory=DeactivationGuard)
    manager_role: LogicalRole | None = Field(
        default=LogicalRole.MANAGER, description="Granted to a manager over each direct report (USER scope)."
    )
    base_role: LogicalRole | None = Field(
        default=None,
        description="Granted to every person with an account (SYSTEM scope). Off by default: in most LMSs a "
        "learner is whoever is enrolled, and a system-wide learner role does not exist (Moodle).",
    )
