"""Pure conversion between Docebo users and enrolsync's accounts, and the bodies of user writes."""

from __future__ import annotations

import secrets
from typing import Any

from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.models import UserItem
from enrolsync.connectors.model import Account, AccountFields

DIRECT_MANAGER = 1  # Docebo's built-in manager type, "Direct Manager"


def to_account(user: UserItem, config: DoceboConfig) -> Account:
    external_id = user.field(config.external_id_field) if config.external_id_field is not None else None
    fields = AccountFields(
        username=user.username,
        given_name=user.first_name or "",
        family_name=user.last_name or "",
        email=user.email or "",
        external_id=external_id,
    )
    return Account(account_id=user.user_id, fields=fields, active=user.status == "1")


def profile(fields: AccountFields, config: DoceboConfig, *, username_key: str) -> dict[str, Any]:
    """The profile part of a user write. The single-user endpoints name the username `userid`; the batch
    import names it `username`. The HR id goes to the configured additional field."""
    body: dict[str, Any] = {
        username_key: fields.username,
        "firstname": fields.given_name,
        "lastname": fields.family_name,
        "email": fields.email,
    }
    if config.external_id_field is not None and fields.external_id:
        body["additional_fields"] = {str(config.external_id_field): fields.external_id}
    return body


def new_password() -> str:
    """Docebo wants a password on import; people sign in through SSO or reset it, so nobody knows this one."""
    return secrets.token_urlsafe(24) + "-Aa1"


def numeric(value: str | None) -> int | None:
    """An id as Docebo takes it (a positive integer), or None for anything else."""
    if value is None or not value.isdigit():
        return None
    number = int(value)
    return number if number > 0 else None
