"""Desired state: what the target should hold for one person after the rules ran.

The same model records what was last applied (`Link.applied`), so its JSON form is stored and read back: sets
serialise as sorted lists, which keeps the stored document stable from run to run and the round-trip exact.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from enrolsync.connectors.model import AccountFields, RoleScope


def _sorted_strings(values: frozenset[str]) -> list[str]:
    return sorted(values)


def _sorted_grants(grants: frozenset[RoleGrant]) -> list[RoleGrant]:
    # Only the order is chosen here: pydantic serialises the grants themselves, in its core rather than one
    # `model_dump` call per grant (a manager's state holds a grant per report, and it is stored after every op).
    return sorted(grants, key=RoleGrant.sort_key)


StringSet = Annotated[frozenset[str], PlainSerializer(_sorted_strings, return_type=list[str])]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Which scope ids (scope_id, scope_hr_id) a grant in each scope has.
_SCOPE_IDS = {RoleScope.SYSTEM: (False, False), RoleScope.COURSE: (True, False), RoleScope.USER: (False, True)}


class RoleGrant(_Frozen):
    """A logical role in a scope: SYSTEM (no scope id), COURSE (`scope_id` = course id) or USER.

    USER grants name the person they are held over by `scope_hr_id` (a direct report), never by account id:
    the report's account may not exist yet when the plan is made; the executor resolves it from the links.
    """

    role: str = Field(min_length=1)
    scope: RoleScope = RoleScope.SYSTEM
    scope_id: str | None = None
    scope_hr_id: str | None = None

    @model_validator(mode="after")
    def _scope_fits(self) -> RoleGrant:
        # Runs for every grant of every settled person's state a full run reads back: the table is built once.
        if (self.scope_id is not None, self.scope_hr_id is not None) != _SCOPE_IDS[self.scope]:
            raise ValueError(
                "a system role has no scope ids, a course role only scope_id, a user role only scope_hr_id"
            )
        return self

    def sort_key(self) -> tuple[str, str, str, str]:
        """Total order, so plans and stored states list grants the same way every time."""
        return (self.role, self.scope.value, self.scope_id or "", self.scope_hr_id or "")


GrantSet = Annotated[frozenset[RoleGrant], PlainSerializer(_sorted_grants, return_type=list[RoleGrant])]


class SsoSpec(_Frozen):
    """The SSO identity an account signs in with: the target auth method and the IdP subject."""

    auth: str = Field(min_length=1)
    subject: str = Field(min_length=1)


class DesiredState(_Frozen):
    """Everything enrolsync manages for one person on the target."""

    hr_id: str = Field(min_length=1)
    fields: AccountFields
    active: bool = True
    enrolments: StringSet = frozenset()
    roles: GrantSet = frozenset()
    groups: StringSet = frozenset()
    sso: SsoSpec | None = None
    # Course id -> the due date pushed with the enrolment, only for targets declaring `DUE_DATES` (elsewhere due
    # dates are tracked with progress, not desired). Left out of the stored state when empty, so the links of
    # every other target are stored exactly as before.
    due_dates: dict[str, date] = Field(default_factory=dict, exclude_if=lambda value: not value)
