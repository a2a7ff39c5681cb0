"""Operations: the unit of a plan and the input of `TargetConnector.apply`.

A stored plan is a list of these, so a reviewed dry run can be applied exactly as reviewed. Every op names the
person it is for (`hr_id`). `account_id` is None only on ops planned for a person whose account a `CreateUser`
earlier in the same plan will create: the executor fills it in from the link before the op is applied.
`drift` marks an op planned to undo a change someone made by hand on the target; targets ignore it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from enrolsync.connectors.model import AccountFields, ExternalRef, RoleScope


class OpKind(StrEnum):
    CREATE_USER = "create_user"
    UPDATE_USER = "update_user"
    DEACTIVATE_USER = "deactivate_user"
    DELETE_USER = "delete_user"
    REACTIVATE_USER = "reactivate_user"
    ENROL = "enrol"
    UNENROL = "unenrol"
    ASSIGN_ROLE = "assign_role"
    REVOKE_ROLE = "revoke_role"
    SET_SSO_IDENTITY = "set_sso_identity"
    ADD_TO_GROUP = "add_to_group"
    REMOVE_FROM_GROUP = "remove_from_group"
    SET_DUE_DATE = "set_due_date"


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    hr_id: str
    account_id: str | None = None
    drift: bool = Field(default=False, description="Repairs a change made by hand on the target (full reconcile).")

    @property
    def key(self) -> str:
        """Identity of the effect, stable across re-plans: two ops with one key must never both apply."""
        return f"{self.kind}:{self.hr_id}"  # type: ignore[attr-defined]


class CreateUser(_Op):
    kind: Literal[OpKind.CREATE_USER] = OpKind.CREATE_USER
    fields: AccountFields


class UpdateUser(_Op):
    """Set the managed profile fields to `fields` (all of them: the op is idempotent)."""

    kind: Literal[OpKind.UPDATE_USER] = OpKind.UPDATE_USER
    fields: AccountFields
    changed: tuple[str, ...] = ()


class DeactivateUser(_Op):
    """Suspend the account; its training records stay."""

    kind: Literal[OpKind.DEACTIVATE_USER] = OpKind.DEACTIVATE_USER


class DeleteUser(_Op):
    """Delete the account and, on most LMSs, its training records with it: only under `LeaverPolicy.DELETE`, on
    a target that declares `HARD_DELETE`. An account already gone is `already`."""

    kind: Literal[OpKind.DELETE_USER] = OpKind.DELETE_USER


class ReactivateUser(_Op):
    kind: Literal[OpKind.REACTIVATE_USER] = OpKind.REACTIVATE_USER


class Enrol(_Op):
    """Enrol the account in the course. `due_on` is planned only for targets declaring `DUE_DATES`: the enrolment
    is made due that day, and an enrolment already in place gets that due date (`done` when it had another)."""

    kind: Literal[OpKind.ENROL] = OpKind.ENROL
    course_id: str
    # Left out of the stored op when unset, so ops planned for targets without due dates are stored as before.
    due_on: date | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.hr_id}:{self.course_id}"


class Unenrol(_Op):
    """Remove an enrolment the learner has not started.

    A target never removes a started or completed enrolment (`Enrolment.started`): it keeps it and answers
    `already`, so the training record survives a course started between plan and apply. The engine then stops
    managing that enrolment.
    """

    kind: Literal[OpKind.UNENROL] = OpKind.UNENROL
    course_id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.hr_id}:{self.course_id}"


class SetDueDate(_Op):
    """Make the account's enrolment in the course due on `due_on` (targets declaring `DUE_DATES` only): the due
    date a rule sets moved, e.g. recurring training due again after a completion. A target holding that date
    already answers `already`; an enrolment the account does not hold fails as not found."""

    kind: Literal[OpKind.SET_DUE_DATE] = OpKind.SET_DUE_DATE
    course_id: str
    due_on: date

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.hr_id}:{self.course_id}"


class _RoleOp(_Op):
    role: str
    scope: RoleScope = RoleScope.SYSTEM
    scope_id: str | None = Field(default=None, description="Course id, or the report's account id (USER).")
    scope_hr_id: str | None = Field(default=None, description="For USER scope: the report's hr_id.")

    @property
    def key(self) -> str:
        target = self.scope_hr_id or self.scope_id or ""
        return f"{self.kind}:{self.hr_id}:{self.role}:{self.scope}:{target}"  # type: ignore[attr-defined]


class AssignRole(_RoleOp):
    kind: Literal[OpKind.ASSIGN_ROLE] = OpKind.ASSIGN_ROLE


class RevokeRole(_RoleOp):
    kind: Literal[OpKind.REVOKE_ROLE] = OpKind.REVOKE_ROLE


class SetSsoIdentity(_Op):
    kind: Literal[OpKind.SET_SSO_IDENTITY] = OpKind.SET_SSO_IDENTITY
    auth: str
    subject: str


class AddToGroup(_Op):
    kind: Literal[OpKind.ADD_TO_GROUP] = OpKind.ADD_TO_GROUP
    group_id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.hr_id}:{self.group_id}"


class RemoveFromGroup(_Op):
    kind: Literal[OpKind.REMOVE_FROM_GROUP] = OpKind.REMOVE_FROM_GROUP
    group_id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.hr_id}:{self.group_id}"


Op = Annotated[
    CreateUser
    | UpdateUser
    | DeactivateUser
    | DeleteUser
    | ReactivateUser
    | Enrol
    | Unenrol
    | AssignRole
    | RevokeRole
    | SetSsoIdentity
    | AddToGroup
    | RemoveFromGroup
    | SetDueDate,
    Field(discriminator="kind"),
]

OP_ADAPTER: TypeAdapter[Op] = TypeAdapter(Op)


class ErrorInfo(BaseModel):
    """Why an op failed: the remote status and a short reason, never a secret or personal data."""

    model_config = ConfigDict(frozen=True)
    reason: str
    status: int | None = None
    code: str | None = Field(default=None, description="The remote system's error code, e.g. Moodle errorcode.")
    retry_after: float | None = None


class OpResult(BaseModel):
    """The outcome of one op. `already` means the effect was in place: an idempotent no-op."""

    model_config = ConfigDict(frozen=True)
    outcome: Literal["done", "already", "failed", "retry"]
    ref: ExternalRef | None = None
    error: ErrorInfo | None = None

    @classmethod
    def done(cls, ref: ExternalRef | None = None) -> OpResult:
        return cls(outcome="done", ref=ref)

    @classmethod
    def already(cls, ref: ExternalRef | None = None) -> OpResult:
        return cls(outcome="already", ref=ref)

    @classmethod
    def failed(cls, reason: str, *, status: int | None = None, code: str | None = None) -> OpResult:
        return cls(outcome="failed", error=ErrorInfo(reason=reason, status=status, code=code))

    @classmethod
    def retry(cls, reason: str, *, status: int | None = None, retry_after: float | None = None) -> OpResult:
        return cls(outcome="retry", error=ErrorInfo(reason=reason, status=status, retry_after=retry_after))
