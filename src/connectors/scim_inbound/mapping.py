"""Pure conversion from SCIM Users (core schema + enterprise extension) to the canonical person.

`hr_id` is the User's `id`: assigned by the SCIM service, immutable and never reused, which `userName`, `externalId`
and `employeeNumber` (all client-writable) are not. The enterprise `manager.value` is the manager's `id`
(RFC 7643 section 4.3), so it is the manager's `hr_id` as is.
"""

from __future__ import annotations

from typing import Any

from scim2_models import EnterpriseUser, Name, User

from enrolsync.connectors.model import Person, PersonStatus

ScimUser = User[EnterpriseUser]


def work_email(user: ScimUser) -> str | None:
    """The primary email, else the first `work` one, else the first of any type."""
    emails = [e for e in (user.emails or []) if e.value]
    for pick in (lambda e: e.primary, lambda e: str(e.type or "") == "work", lambda e: True):
        for email in emails:
            if pick(email):
                return str(email.value)
    return None


def _location(user: ScimUser) -> str | None:
    for address in user.addresses or []:
        if address.locality or address.formatted:
            return address.locality or address.formatted
    return None


def to_person(payload: dict[str, Any], *, inactive: PersonStatus = PersonStatus.TERMINATED) -> Person:
    """A person from a User as the SCIM service returns it. Raises `pydantic.ValidationError` on a bad payload."""
    user = ScimUser.model_validate(payload)
    name = user.name or Name()
    extension = user[EnterpriseUser] or EnterpriseUser()
    manager = extension.manager.value if extension.manager is not None else None
    return Person(
        hr_id=str(user.id),
        given_name=name.given_name or "",
        family_name=name.family_name or "",
        work_email=work_email(user),
        username=user.user_name,
        status=PersonStatus.ACTIVE if user.active is not False else inactive,
        department=extension.department,
        job_title=user.title,
        location=_location(user),
        manager_hr_id=manager or None,
        employee_number=extension.employee_number,
        custom={k: v for k, v in (("external_id", user.external_id), ("cost_center", extension.cost_center)) if v},
    )
