"""Pure conversion between domain records and Moodle user fields.

`idnumber` holds the HR external id. Usernames are lower-cased: Moodle's PARAM_USERNAME validation rejects any
value its cleaning would change (moodle/moodle `lib/moodlelib.php` clean_param).
"""

from __future__ import annotations

import re
from typing import Any

from enrolsync.connectors.model import Account, AccountFields, RoleScope
from enrolsync.connectors.moodle.models import MoodleUser

# Auth plugins whose is_internal() is true: Moodle keeps their passwords, so creating an account needs a password
# or `createpassword` (core_user_external::create_users). Every other plugin (saml2, oidc, ldap...) is SSO-like.
INTERNAL_AUTHS = frozenset({"manual", "email", "nologin"})
GUEST_USERNAME = "guest"
_USERNAME_OUTSIDE = re.compile(r"[^-.@_a-z0-9]")


def clean_username(value: str) -> str:
    """What PARAM_USERNAME cleaning makes of a value (without `$CFG->extendedusernamechars`)."""
    return _USERNAME_OUTSIDE.sub("", value.strip().lower().replace(" ", ""))


def normal_username(value: str) -> str | None:
    """The lower-cased username Moodle accepts for `value`, or None if cleaning would have to drop characters."""
    lowered = value.strip().lower()
    return lowered if lowered and clean_username(lowered) == lowered else None


def to_account(user: MoodleUser, *, job_title_field: str | None = None) -> Account:
    """The domain account for a Moodle user; a suspended user is an inactive account.

    Built without validation: every value is a string (or None) of a `MoodleUser` validated as it was read, and
    a full run's snapshot makes one per linked account (issue 19)."""
    fields = AccountFields.model_construct(
        username=user.username,
        given_name=user.firstname,
        family_name=user.lastname,
        email=user.email,
        external_id=user.idnumber or None,
        auth=user.auth or None,
        department=user.department or None,
        job_title=(user.custom(job_title_field) or None) if job_title_field else None,
        location=user.city or None,
    )
    return Account.model_construct(account_id=str(user.id), fields=fields, active=not user.suspended)


def _profile(fields: AccountFields, *, job_title_field: str | None) -> dict[str, Any]:
    """The managed profile fields as Moodle user fields. `None` clears optional fields; identity fields
    (`idnumber`, `auth`) are left alone when None because clearing them would orphan the account."""
    username = normal_username(fields.username)
    if username is None:
        raise ValueError("username has characters Moodle does not allow")
    profile: dict[str, Any] = {
        "username": username,
        "firstname": fields.given_name,
        "lastname": fields.family_name,
        "email": fields.email.strip(),
        "department": fields.department or "",
        "city": fields.location or "",
    }
    if fields.external_id is not None:
        profile["idnumber"] = fields.external_id
    if fields.auth is not None:
        profile["auth"] = fields.auth
    if job_title_field:
        profile["customfields"] = [{"type": job_title_field, "value": fields.job_title or ""}]
    return profile


def create_payload(fields: AccountFields, *, default_auth: str, job_title_field: str | None) -> dict[str, Any]:
    """A `users[]` entry for core_user_create_users. Raises ValueError for a username Moodle would reject."""
    profile = _profile(fields, job_title_field=job_title_field)
    if profile.get("customfields") and not profile["customfields"][0]["value"]:
        del profile["customfields"]
    payload = {k: v for k, v in profile.items() if v != ""}
    payload.setdefault("auth", default_auth)
    if payload["auth"] in INTERNAL_AUTHS:
        # Moodle generates a password and mails it; SSO accounts get none (it would be mailed for nothing).
        payload["createpassword"] = True
    return payload


def _current(user: MoodleUser, key: str, job_title_field: str | None) -> str:
    if key == "customfields":
        return user.custom(job_title_field or "")
    value = getattr(user, key)
    return str(value)


def update_payload(user: MoodleUser, fields: AccountFields, *, job_title_field: str | None) -> dict[str, Any] | None:
    """A `users[]` entry for core_user_update_users with the fields that differ, or None if all match."""
    changes: dict[str, Any] = {}
    for key, value in _profile(fields, job_title_field=job_title_field).items():
        wanted = value[0]["value"] if key == "customfields" else value
        if _current(user, key, job_title_field) != wanted:
            changes[key] = value
    return {"id": user.id, **changes} if changes else None


def sso_subject(value: str, field: str) -> str:
    """The subject as the Moodle field stores it. Raises ValueError when Moodle would reject it."""
    if field == "username":
        username = normal_username(value)
        if username is None:
            raise ValueError("the SSO subject is not a valid Moodle username")
        return username
    return value.strip()


def sso_payload(user: MoodleUser, auth: str, subject: str, field: str) -> dict[str, Any] | None:
    """A `users[]` entry that signs the account in through `auth` with `subject` in `field`, or None if it does."""
    wanted = sso_subject(subject, field)
    current = str(getattr(user, field))
    same_subject = current.lower() == wanted.lower() if field == "email" else current == wanted
    if user.auth == auth and same_subject:
        return None
    return {"id": user.id, "auth": auth, field: wanted}


# -- the role mirror: assignments outside courses, recorded in a custom profile field -------------------------------
# Tokens on user X: "<shortname>" = X holds the role in the system context;
# "<shortname>@<holder id>" = the holder holds the role in X's user context. Shortnames cannot contain '@', ',' or
# ':' (PARAM_ALPHANUMEXT). A token prefixed with `PENDING` records an intent: the role was about to be assigned or
# unassigned, and may or may not be held now (the write that would have settled the record did not land).
PENDING = "pending:"


def parse_mirror(value: str) -> set[str]:
    """The tokens in a mirror field's value (pending ones keep their prefix)."""
    return {token.strip() for token in value.split(",") if token.strip()}


def format_mirror(tokens: set[str]) -> str:
    """A mirror field's value for `tokens`, in a stable order."""
    return ",".join(sorted(tokens))


def mirror_token(shortname: str, scope: RoleScope, holder_id: int) -> str:
    """The token recording a system role (on the holder) or a user-context role (on the report) as held."""
    return shortname if scope is RoleScope.SYSTEM else f"{shortname}@{holder_id}"


def pending_token(token: str) -> str:
    """The token recording that the assignment `token` names may be held: its write is under way or unsettled."""
    return PENDING + token


def mirror_assignments(user_id: int, value: str) -> list[tuple[int, str, RoleScope, int | None, bool]]:
    """(holder id, shortname, scope, scope user id, confirmed) for each token in user `user_id`'s mirror field;
    `confirmed` is False for a pending token (the role may or may not be held)."""
    held: list[tuple[int, str, RoleScope, int | None, bool]] = []
    for token in sorted(parse_mirror(value)):
        confirmed = not token.startswith(PENDING)
        shortname, _, holder = token.removeprefix(PENDING).partition("@")
        if not holder:
            held.append((user_id, shortname, RoleScope.SYSTEM, None, confirmed))
        elif holder.isdigit():
            held.append((int(holder), shortname, RoleScope.USER, user_id, confirmed))
    return held


def numeric_id(value: str | None) -> int | None:
    """A Moodle record id from an account or course id string, or None if it is not one."""
    if value is None or not value.isdigit() or int(value) < 1:
        return None
    return int(value)
