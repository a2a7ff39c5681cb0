"""Pure conversion between the domain's accounts and SCIM Users, and the PATCH operations that set a profile.

Field map: username -> `userName`; external_id (the HR id) -> `externalId`; given/family name -> `name`; email ->
the primary `work` entry of `emails`; job title -> `title`; department -> the enterprise extension's
`department`. `location` has no single SCIM attribute (addresses are multi-valued) and is not written.
"""

from __future__ import annotations

from typing import Any

from scim2_models import Email, EnterpriseUser, Name, PatchOperation

from enrolsync.connectors.model import Account, AccountFields
from enrolsync.connectors.scim.models import DEPARTMENT_PATH, ScimUser

_CASELESS = frozenset({"username", "email"})


def work_email(user: ScimUser) -> str:
    """The primary email, else the first `work` one, else the first of any type."""
    emails = list(user.emails or [])
    for pick in (lambda e: e.primary, lambda e: str(e.type or "") == "work", lambda e: True):
        for email in emails:
            if pick(email) and email.value:
                return str(email.value)
    return ""


def department(user: ScimUser) -> str | None:
    extension = user[EnterpriseUser]
    return extension.department if extension is not None else None


def manager_id(user: ScimUser) -> str | None:
    extension = user[EnterpriseUser]
    if extension is None or extension.manager is None:
        return None
    return extension.manager.value or None


def to_account(user: ScimUser) -> Account:
    name = user.name or Name()
    fields = AccountFields(
        username=user.user_name or "",
        given_name=name.given_name or "",
        family_name=name.family_name or "",
        email=work_email(user),
        external_id=user.external_id,
        department=department(user),
        job_title=user.title,
    )
    return Account(account_id=str(user.id), fields=fields, active=user.active is not False)


def to_user(fields: AccountFields, *, enterprise: bool, active: bool = True) -> ScimUser:
    """A new User carrying `fields`; the enterprise extension only when the server's User type lists it."""
    user = ScimUser(
        user_name=fields.username,
        external_id=fields.external_id,
        name=Name(given_name=fields.given_name, family_name=fields.family_name),
        display_name=display_name(fields),
        emails=[Email(value=fields.email, type=Email.Type.work, primary=True)] if fields.email else None,
        title=fields.job_title,
        active=active,
    )
    if enterprise and fields.department is not None:
        user[EnterpriseUser] = EnterpriseUser(department=fields.department)
    return user


def display_name(fields: AccountFields) -> str:
    return " ".join(part for part in (fields.given_name, fields.family_name) if part) or fields.username


def _same(name: str, mine: str | None, theirs: str | None) -> bool:
    if name in _CASELESS:
        return (mine or "").strip().casefold() == (theirs or "").strip().casefold()
    return (mine or "") == (theirs or "")


def differences(fields: AccountFields, user: ScimUser, *, enterprise: bool) -> list[str]:
    """The managed fields whose value on the server differs from `fields` (None in `fields` = not managed)."""
    held = to_account(user).fields
    names = ["username", "given_name", "family_name", "email", "external_id", "job_title"]
    if enterprise:
        names.append("department")
    return [n for n in names if getattr(fields, n) is not None and not _same(n, getattr(fields, n), getattr(held, n))]


def profile_operations(fields: AccountFields, changed: list[str]) -> list[PatchOperation[Any]]:
    """PATCH `replace` operations setting the `changed` fields (RFC 7644 section 3.5.2.3)."""
    ops: list[PatchOperation[Any]] = []
    simple = {"username": "userName", "external_id": "externalId", "job_title": "title", "department": DEPARTMENT_PATH}
    for name in changed:
        value = getattr(fields, name)
        if name in simple:
            ops.append(PatchOperation(op=PatchOperation.Op.replace_, path=simple[name], value=value))
        elif name == "given_name":
            ops.append(PatchOperation(op=PatchOperation.Op.replace_, path="name.givenName", value=value))
        elif name == "family_name":
            ops.append(PatchOperation(op=PatchOperation.Op.replace_, path="name.familyName", value=value))
        elif name == "email":
            email = {"value": value, "type": "work", "primary": True}
            ops.append(PatchOperation(op=PatchOperation.Op.replace_, path="emails", value=[email]))
    if {"given_name", "family_name"} & set(changed):
        ops.append(PatchOperation(op=PatchOperation.Op.replace_, path="displayName", value=display_name(fields)))
    return ops
