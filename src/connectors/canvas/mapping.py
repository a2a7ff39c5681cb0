"""Pure conversion between domain records and Canvas users and logins.

The HR id is the login's `sis_user_id`, the username its `unique_id`. Canvas keeps three names: `name` (shown),
`short_name` (display name) and `sortable_name` ("Family, Given"); given and family names are written into
`sortable_name` and read back from it, so they round-trip exactly (`name` alone cannot be split reliably).
A user is active while any of its logins is: suspending the user suspends every login.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from enrolsync.connectors.canvas.models import AuthenticationProvider, CanvasUser, Login
from enrolsync.connectors.model import Account, AccountFields

Form = list[tuple[str, str | int | bool | None]]


def names(fields: AccountFields) -> Form:
    given, family = fields.given_name.strip(), fields.family_name.strip()
    full = f"{given} {family}".strip()
    sortable = f"{family}, {given}" if family and given else (family or given)
    return [("user[name]", full), ("user[short_name]", given or full), ("user[sortable_name]", sortable)]


def split_sortable(user: CanvasUser) -> tuple[str, str]:
    """(given, family) from `sortable_name`, falling back to the last word of `name` as the family name."""
    family, comma, given = user.sortable_name.partition(", ")
    if comma:
        return given.strip(), family.strip()
    first, _, last = user.name.strip().rpartition(" ")
    return (first, last) if first else (user.name.strip(), "")


def primary(logins: Sequence[Login], sis_user_id: str | None = None) -> Login | None:
    """The login enrolsync manages: the one carrying the SIS id, else the oldest."""
    if not logins:
        return None
    carrying = [lg for lg in logins if sis_user_id and lg.sis_user_id == sis_user_id]
    with_sis = [lg for lg in logins if lg.sis_user_id]
    return (carrying or with_sis or sorted(logins, key=lambda lg: lg.id))[0]


def is_active(logins: Sequence[Login]) -> bool:
    return not logins or any(lg.workflow_state == "active" for lg in logins)


def to_account(user: CanvasUser, logins: Sequence[Login]) -> Account:
    """The domain account; profile fields Canvas does not store (department, job title, location) are None."""
    login = primary(logins, user.sis_user_id)
    given, family = split_sortable(user)
    fields = AccountFields(
        username=login.unique_id if login else (user.login_id or ""),
        given_name=given,
        family_name=family,
        email=user.email or "",
        external_id=(login.sis_user_id if login else user.sis_user_id) or None,
    )
    return Account(account_id=str(user.id), fields=fields, active=is_active(logins))


def create_form(fields: AccountFields, provider_id: int | None) -> Form:
    """`POST /accounts/:id/users`: user, login (pseudonym) and a confirmed email channel, no invitation sent."""
    form = names(fields) + [
        ("user[skip_registration]", True),
        ("pseudonym[unique_id]", fields.username.strip()),
        ("pseudonym[sis_user_id]", fields.external_id),
        ("pseudonym[send_confirmation]", False),
        ("pseudonym[authentication_provider_id]", provider_id),
        ("communication_channel[type]", "email"),
        ("communication_channel[address]", fields.email.strip()),
        ("communication_channel[skip_confirmation]", True),
        # A deleted user with this SIS id comes back (with its history) instead of a second account being made.
        ("enable_sis_reactivation", True),
    ]
    return form


def profile_changes(user: CanvasUser, fields: AccountFields) -> Form:
    """`PUT /users/:id` fields that differ; empty when the profile is in place."""
    changes: Form = []
    given, family = split_sortable(user)
    if (given, family) != (fields.given_name.strip(), fields.family_name.strip()):
        changes += names(fields)
    if (user.email or "").strip().casefold() != fields.email.strip().casefold():
        changes.append(("user[email]", fields.email.strip()))
    return changes


def login_changes(login: Login, fields: AccountFields) -> Form:
    """`PUT /accounts/:id/logins/:id` fields that differ (username and SIS id)."""
    changes: Form = []
    if login.unique_id.casefold() != fields.username.strip().casefold():
        changes.append(("login[unique_id]", fields.username.strip()))
    if fields.external_id and login.sis_user_id != fields.external_id:
        changes.append(("login[sis_user_id]", fields.external_id))
    return changes


def provider_id(
    auth: str, providers: Sequence[AuthenticationProvider], names_to_providers: Mapping[str, str]
) -> int | None:
    """The provider an enrolsync auth name means: configured by id or type, else the name taken as a type."""
    wanted = names_to_providers.get(auth, auth)
    if wanted.isdigit():
        return next((p.id for p in providers if p.id == int(wanted)), None)
    ordered = sorted(providers, key=lambda p: (p.position or 0, p.id))
    return next((p.id for p in ordered if p.auth_type == wanted), None)


def auth_name(provider: AuthenticationProvider, names_to_providers: Mapping[str, str]) -> str:
    """The enrolsync auth name of a provider: the first configured name for its id, then for its type."""
    for name, value in names_to_providers.items():
        if value == str(provider.id):
            return name
    for name, value in names_to_providers.items():
        if value == provider.auth_type:
            return name
    return provider.auth_type
