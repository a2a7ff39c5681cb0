"""Account ops, one Canvas request each (there is no batch endpoint for users outside SIS imports), so a record
Canvas refuses fails alone: create, profile and login changes, suspension, and the SSO login."""

from __future__ import annotations

from enrolsync.connectors.canvas import mapping
from enrolsync.connectors.canvas.client import CanvasClient, sis
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.models import AuthenticationProvider, CanvasUser, Login
from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.model import Account, ExternalRef
from enrolsync.connectors.ops import (
    CreateUser,
    DeactivateUser,
    DeleteUser,
    OpResult,
    ReactivateUser,
    SetSsoIdentity,
    UpdateUser,
)

SEARCH_MINIMUM = 3  # characters Canvas requires of a user search term


def account_ref(user_id: int | str) -> ExternalRef:
    return ExternalRef(kind="account", id=str(user_id))


class Users:
    def __init__(self, client: CanvasClient, config: CanvasConfig) -> None:
        self._client = client
        self._config = config
        self._providers: list[AuthenticationProvider] | None = None

    # -- reads --------------------------------------------------------------------------------------------------
    async def user(self, ref: str) -> CanvasUser | None:
        """A user by Canvas id or `sis_user_id:` / `sis_login_id:` reference; None when Canvas has none."""
        try:
            return await self._client.one(CanvasUser, f"users/{ref}")
        except NotFound:
            return None

    async def by_login(self, unique_id: str) -> CanvasUser | None:
        """The user with a login `unique_id` (case-insensitively), or None.

        Found through the account's user search, so the login id (often an email address) travels in the query
        string, which request logs leave out, rather than in a `sis_login_id:` path, which they record. Terms under
        Canvas's 3-character minimum, and numeric ones (searched as user ids first), use the path.
        """
        value = unique_id.strip()
        if len(value) < SEARCH_MINIMUM or value.isdigit():
            return await self.user(sis("sis_login_id", value))
        params = [("search_term", value), ("include[]", "email")]
        candidates = await self._client.every(CanvasUser, f"accounts/{self._config.account_id}/users", params)
        for user in candidates:
            if (user.login_id or "").casefold() == value.casefold():
                return user
        for user in candidates:  # a login other than the first one, e.g. an SSO login
            if any(lg.unique_id.casefold() == value.casefold() for lg in await self.logins(user.id)):
                return user
        return None

    async def logins(self, user_id: int) -> list[Login]:
        return await self._client.every(Login, f"users/{user_id}/logins")

    async def account(self, user: CanvasUser) -> Account:
        return mapping.to_account(user, await self.logins(user.id))

    async def providers(self) -> list[AuthenticationProvider]:
        if self._providers is None:
            path = f"accounts/{self._config.account_id}/authentication_providers"
            self._providers = await self._client.every(AuthenticationProvider, path)
        return self._providers

    async def provider_id(self, auth: str) -> int | None:
        return mapping.provider_id(auth, await self.providers(), self._config.sso_providers)

    # -- create -------------------------------------------------------------------------------------------------
    async def create(self, op: CreateUser) -> OpResult:
        """Create the user and its login; `already` when a user carries the SIS id, or the username without
        another SIS id. Canvas refusing the record (a taken login, a bad address) fails this op alone."""
        fields = op.fields
        if fields.external_id:
            found = await self.user(sis("sis_user_id", fields.external_id))
            if found is not None:
                return OpResult.already(account_ref(found.id))
        holder = await self.by_login(fields.username)
        if holder is not None:
            if fields.external_id and holder.sis_user_id and holder.sis_user_id != fields.external_id:
                return OpResult.failed("the username belongs to an account with another SIS id")
            return OpResult.already(account_ref(holder.id))
        provider = await self.provider_id(fields.auth) if fields.auth else None
        if fields.auth and provider is None:
            return OpResult.failed(f"no Canvas authentication provider for {fields.auth!r}")
        created = await self._client.written(
            CanvasUser, "POST", f"accounts/{self._config.account_id}/users", mapping.create_form(fields, provider)
        )
        return OpResult.done(account_ref(created.id))

    # -- changes ------------------------------------------------------------------------------------------------
    async def update(self, op: UpdateUser) -> OpResult:
        user = await self._existing(op.account_id)
        if user is None:
            return OpResult.failed("account not found", status=404)
        wrote = False
        profile = mapping.profile_changes(user, op.fields)
        if profile:
            await self._client.write("PUT", f"users/{user.id}", profile)
            wrote = True
        login = mapping.primary(await self.logins(user.id), user.sis_user_id)
        changes = mapping.login_changes(login, op.fields) if login else []
        if login is not None and changes:
            await self._client.write("PUT", f"accounts/{self._config.account_id}/logins/{login.id}", changes)
            wrote = True
        return OpResult.done(account_ref(user.id)) if wrote else OpResult.already(account_ref(user.id))

    async def set_active(self, op: DeactivateUser | ReactivateUser) -> OpResult:
        """Suspend or unsuspend every login (`user[event]`); enrolments, grades and submissions stay."""
        user = await self._existing(op.account_id)
        if user is None:
            return OpResult.failed("account not found", status=404)
        logins = await self.logins(user.id)
        want_active = isinstance(op, ReactivateUser)
        if all((lg.workflow_state == "active") == want_active for lg in logins):
            return OpResult.already(account_ref(user.id))
        event = "unsuspend" if want_active else "suspend"
        await self._client.write("PUT", f"users/{user.id}", [("user[event]", event)])
        return OpResult.done(account_ref(user.id))

    async def delete(self, op: DeleteUser) -> OpResult:
        """Delete the user from the account (`DELETE /accounts/:id/users/:id`): logins and enrolments go with it.
        Only under the pipeline's leaver policy `delete`; a user already gone is `already`."""
        user = await self._existing(op.account_id)
        if user is None:
            return OpResult.already(account_ref(op.account_id or ""))
        try:
            await self._client.write("DELETE", f"accounts/{self._config.account_id}/users/{user.id}")
        except NotFound:
            return OpResult.already(account_ref(user.id))
        return OpResult.done(account_ref(user.id))

    async def set_sso(self, op: SetSsoIdentity) -> OpResult:
        """Tie a login to the provider with the IdP's subject as its `unique_id`.

        The managed login is re-pointed when its `unique_id` already is the subject; otherwise a login on that
        provider is edited or a new one added, leaving the username's login alone.
        """
        provider = await self.provider_id(op.auth)
        if provider is None:
            return OpResult.failed(f"no Canvas authentication provider for {op.auth!r}")
        user = await self._existing(op.account_id)
        if user is None:
            return OpResult.failed("account not found", status=404)
        logins = await self.logins(user.id)
        subject = op.subject.strip()
        on_provider = [lg for lg in logins if lg.authentication_provider_id == provider]
        if any(lg.unique_id.casefold() == subject.casefold() for lg in on_provider):
            return OpResult.already(ExternalRef(kind="sso", id=str(user.id)))
        base = f"accounts/{self._config.account_id}/logins"
        same = [lg for lg in logins if lg.unique_id.casefold() == subject.casefold()]
        if on_provider or same:
            login = (on_provider or same)[0]
            form: mapping.Form = [("login[unique_id]", subject), ("login[authentication_provider_id]", provider)]
            await self._client.write("PUT", f"{base}/{login.id}", form)
        else:
            form = [
                ("user[id]", user.id),
                ("login[unique_id]", subject),
                ("login[authentication_provider_id]", provider),
            ]
            await self._client.write("POST", base, form)
        return OpResult.done(ExternalRef(kind="sso", id=str(user.id)))

    async def _existing(self, account_id: str | None) -> CanvasUser | None:
        if not account_id or not account_id.isdigit():
            return None
        return await self.user(account_id)
