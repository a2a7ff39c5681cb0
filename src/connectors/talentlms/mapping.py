"""Pure conversion between TalentLMS users and enrolsync's accounts, and the bodies of user writes."""

from __future__ import annotations

import secrets
from typing import Any

from enrolsync.connectors.model import Account, AccountFields
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.models import UserDetail, UserItem

BRANCH_PREFIX = "branch:"  # a group id naming a TalentLMS branch rather than a group


def to_account(user: UserItem, config: TalentLMSConfig) -> Account:
    """An account from a listed user (no custom fields: `external_id` unknown) or a user's details (with them)."""
    external_id = None
    if isinstance(user, UserDetail) and config.external_id_field is not None:
        external_id = user.custom(config.external_id_field) or None
    fields = AccountFields(
        username=user.login,
        given_name=user.name,
        family_name=user.surname,
        email=user.email,
        external_id=external_id,
    )
    return Account(account_id=str(user.id), fields=fields, active=user.status == "active")


def user_body(fields: AccountFields, config: TalentLMSConfig) -> dict[str, Any]:
    """The profile part of `POST /api/v2/users` and `PATCH /api/v2/users/{id}`: TalentLMS's `name`/`surname`/
    `login`/`email`, and the HR id in the configured custom field (`custom_field_<id>`, as the batch user
    upsert names custom fields)."""
    body: dict[str, Any] = {
        "name": fields.given_name,
        "surname": fields.family_name,
        "login": fields.username,
        "email": fields.email,
    }
    if config.external_id_field is not None and fields.external_id:
        body[f"custom_field_{config.external_id_field}"] = fields.external_id
    return body


def new_password() -> str:
    """TalentLMS requires a password on create; people sign in through SSO or reset it, so nobody knows this one."""
    return secrets.token_urlsafe(24) + "-Aa1"


def numeric(value: str | None) -> int | None:
    """An id as TalentLMS takes it (a positive integer), or None for anything else."""
    if value is None or not value.isdigit():
        return None
    number = int(value)
    return number if number > 0 else None


def team_manager(name: str, prefix: str) -> int | None:
    """The manager's user id of a team group named `prefix` + id, or None for any other group."""
    return numeric(name[len(prefix) :]) if name.startswith(prefix) else None
