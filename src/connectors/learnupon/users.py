"""Account ops: create (idempotent, matched on email, the portal's unique key), profile changes, leavers
(`enabled: false`, records kept), returners, and the SSO identity (the identifier the portal's SAML matches)."""

from __future__ import annotations

from typing import Any

from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.learnupon import mapping
from enrolsync.connectors.learnupon.apply import numeric
from enrolsync.connectors.learnupon.client import LearnUponClient
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.errors import is_already
from enrolsync.connectors.learnupon.models import LuUser
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import CreateUser, DeactivateUser, OpResult, ReactivateUser, SetSsoIdentity, UpdateUser

UserChange = UpdateUser | DeactivateUser | ReactivateUser | SetSsoIdentity


def account_ref(user_id: int | str) -> ExternalRef:
    return ExternalRef(kind="account", id=str(user_id))


class UserWriter:
    def __init__(self, client: LearnUponClient, config: LearnUponConfig) -> None:
        self._client = client
        self._config = config

    async def _holder_of(self, fields_email: str) -> LuUser | None:
        found = await self._client.search_users("email", fields_email.strip())
        return next((u for u in found if u.email.casefold() == fields_email.strip().casefold()), None)

    def _match(self, op: CreateUser, user: LuUser) -> OpResult:
        """`already` for the account this create would duplicate; failed when the email is someone else's."""
        label = self._config.external_id_field
        theirs = user.field(label)
        if op.fields.external_id and theirs and theirs != op.fields.external_id:
            return OpResult.failed("the email belongs to an account with another HR id", status=422)
        return OpResult.already(account_ref(user.id))

    async def create(self, op: CreateUser) -> OpResult:
        """Create a learner; an account already holding the email is `already` (same or no HR id)."""
        try:
            body = mapping.create_body(op.fields, self._config)
        except ValueError as error:
            return OpResult.failed(str(error))
        existing = await self._holder_of(op.fields.email)
        if existing is not None:
            return self._match(op, existing)
        try:
            user_id = await self._client.create_user(body)
        except ConnectorError as error:
            if not is_already(error):
                raise
            again = await self._holder_of(op.fields.email)
            if again is None:  # the username, not the email, is taken: someone else's account
                raise
            return self._match(op, again)
        return OpResult.done(account_ref(user_id))

    async def change(self, op: UserChange) -> OpResult:
        """Apply a profile, status or SSO change; an account already so is `already` and gets no write."""
        user_id = numeric(op.account_id)
        user = await self._client.user(user_id) if user_id else None
        if user is None:
            return OpResult.failed("account not found", status=404)
        try:
            change = self._change(op, user)
        except ValueError as error:
            return OpResult.failed(str(error))
        if change is None:
            return OpResult.already(account_ref(user.id))
        await self._client.update_user(user.id, change)
        return OpResult.done(account_ref(user.id))

    def _change(self, op: UserChange, user: LuUser) -> dict[str, Any] | None:
        if isinstance(op, UpdateUser):
            return mapping.update_body(user, op.fields, self._config)
        if isinstance(op, SetSsoIdentity):
            return self._sso(op, user)
        enabled = isinstance(op, ReactivateUser)
        return None if user.enabled == enabled else {"enabled": enabled}

    def _sso(self, op: SetSsoIdentity, user: LuUser) -> dict[str, Any] | None:
        """LearnUpon's one SAML configuration per portal matches people on their identifier: the SSO identity is
        that identifier, so setting it makes the identifier equal the subject."""
        if self._config.sso_auth is None:
            raise ValueError("this connection has no sso_auth: the portal's SAML sign-in is not configured")
        if op.auth != self._config.sso_auth:
            raise ValueError(f"this portal signs in through {self._config.sso_auth!r} only")
        subject = op.subject.strip()
        change: dict[str, Any] = {}
        if self._config.identifier == "email":
            if user.email.casefold() != subject.casefold():
                change["email"] = subject
        elif not mapping.fits_username(subject):
            raise ValueError("the SSO subject is not a valid LearnUpon username (6-30 characters)")
        elif (user.username or "") != subject:
            change["username"] = subject
        marker = self._config.sso_field
        if marker is not None and user.field(marker) != op.auth:
            change["CustomData"] = {marker: op.auth}
        return change or None
