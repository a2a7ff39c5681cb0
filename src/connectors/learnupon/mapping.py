"""Pure conversion between domain records and LearnUpon user fields.

LearnUpon has no core external-id, department, job-title or location field: each goes to a custom user data field
named in the config (`CustomData{label: value}`), or is not managed. The username (6-30 characters) is sent only
when it fits; on an email-identified portal an account without one reports its email as username.
"""

from __future__ import annotations

import secrets
from typing import Any

from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.models import LuUser
from enrolsync.connectors.model import Account, AccountFields

USER_TYPES = ("learner", "manager", "instructor", "admin")
MEMBERSHIP_LEARNER, MEMBERSHIP_MANAGER = 1, 4  # group_membership_type_id: 1 learner, 2 admin, 3 instructor, 4 manager


def fits_username(value: str | None) -> bool:
    """LearnUpon usernames are 6-30 characters (docs.learnupon.com/api, Users)."""
    return value is not None and 6 <= len(value.strip()) <= 30


def _fields(config: LearnUponConfig) -> dict[str, str | None]:
    return {
        "external_id": config.external_id_field,
        "department": config.department_field,
        "job_title": config.job_title_field,
        "location": config.location_field,
    }


def to_account(user: LuUser, config: LearnUponConfig) -> Account:
    """The domain account for a LearnUpon user; `enabled: false` is an inactive account."""
    custom = {name: user.field(label) if label else None for name, label in _fields(config).items()}
    fields = AccountFields(
        username=user.username or user.email,
        given_name=user.first_name,
        family_name=user.last_name,
        email=user.email,
        auth=sso_auth_of(user, config),
        **custom,
    )
    return Account(account_id=str(user.id), fields=fields, active=user.enabled)


def sso_auth_of(user: LuUser, config: LearnUponConfig) -> str | None:
    """The auth an account signs in through: the portal's SAML for every account, or with `sso_field` for those
    it marks; None when unknown (a field the target does not hold is not compared)."""
    if config.sso_auth is None or (config.sso_field is not None and user.field(config.sso_field) != config.sso_auth):
        return None
    return config.sso_auth


def _custom(fields: AccountFields, config: LearnUponConfig, *, clearing: bool) -> dict[str, str]:
    data: dict[str, str] = {}
    for name, label in _fields(config).items():
        value = getattr(fields, name)
        if label and (value is not None or (clearing and name != "external_id")):
            data[label] = value or ""
    return data


def profile(fields: AccountFields, config: LearnUponConfig) -> dict[str, Any]:
    """The managed fields as a `User` body. Raises ValueError for values LearnUpon would refuse."""
    if not fields.email.strip():
        raise ValueError("LearnUpon needs an email address")
    if not fields.given_name.strip() or not fields.family_name.strip():
        raise ValueError("LearnUpon needs a first and a last name")
    body: dict[str, Any] = {
        "email": fields.email.strip(),
        "first_name": fields.given_name.strip(),
        "last_name": fields.family_name.strip(),
    }
    if fits_username(fields.username) and fields.username.strip().casefold() != fields.email.strip().casefold():
        body["username"] = fields.username.strip()
    elif config.identifier == "username":
        raise ValueError("the username must be 6 to 30 characters on a username-identified portal")
    custom = _custom(fields, config, clearing=False)
    if custom:
        body["CustomData"] = custom
    return body


def create_body(fields: AccountFields, config: LearnUponConfig) -> dict[str, Any]:
    """A `POST /users` body: learner, enabled, and a random password LearnUpon requires but nobody uses
    (people sign in through SSO or set their own with 'Forgot password')."""
    body = profile(fields, config)
    marker = config.sso_field
    if marker is not None and config.sso_auth is not None and fields.auth == config.sso_auth:
        # The account is made for SSO from the start: its SSO identity op then finds nothing left to write.
        body["CustomData"] = {**body.get("CustomData", {}), marker: config.sso_auth}
    return {**body, "user_type": "learner", "enabled": True, "password": secrets.token_urlsafe(18)}


def update_body(user: LuUser, fields: AccountFields, config: LearnUponConfig) -> dict[str, Any] | None:
    """A `PUT /users/{id}` body with the fields that differ, or None when all match."""
    wanted = profile(fields, config)
    change: dict[str, Any] = {}
    if wanted["email"].casefold() != user.email.casefold() or wanted["email"] != user.email:
        change["email"] = wanted["email"]
    for name in ("first_name", "last_name"):
        if wanted[name] != getattr(user, name):
            change[name] = wanted[name]
    if "username" in wanted and wanted["username"] != (user.username or ""):
        change["username"] = wanted["username"]
    custom = {
        label: value
        for label, value in _custom(fields, config, clearing=True).items()
        if (user.field(label) or "") != value
    }
    if custom:
        change["CustomData"] = custom
    return change or None


def role_user_type(role: str) -> str | None:
    """The LearnUpon user type of a logical role, or None when there is none."""
    return role if role in USER_TYPES else None
