"""Account ops: create (batched, idempotent, with bad-record isolation) and profile, status and SSO changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from enrolsync.connectors.kit.batching import all_of
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.moodle import mapping
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.isolate import record_into, send_isolated
from enrolsync.connectors.moodle.models import MoodleUser, Warning, is_deleted
from enrolsync.connectors.moodle.site import SiteFacts, absent_reason
from enrolsync.connectors.ops import CreateUser, DeactivateUser, OpResult, ReactivateUser, SetSsoIdentity, UpdateUser

Outcomes = dict[int, OpResult]
# Users per core_user_update_users call: a dozen fields each stays under PHP's max_input_vars (default 1000). A
# batch may hold more (one read of up to 200 accounts serves them all) and is sent in calls of this many.
UPDATE_CHUNK = 50
UserChange = UpdateUser | DeactivateUser | ReactivateUser | SetSsoIdentity

# Fixed phrases for core_user_update_users warning codes (the messages are Moodle's, in the site's language).
_WARNINGS = {
    "invaliduserid": "account not found",
    "usernotupdatedadmin": "admin accounts cannot be updated",
    "usernotupdateddeleted": "the account is deleted",
    "usernotupdatedremote": "the account belongs to another (MNet) site",
    "usernotupdatedguest": "the guest account cannot be updated",
    "useremailinvalid": "email address is invalid",
    "useremailduplicate": "email address already exists",
}


async def not_live(client: MoodleClient, user_ids: Iterable[int], *, guest: bool = True) -> dict[int, OpResult]:
    """A failure for each id that is no live account: missing, deleted, or (`guest=False`) Moodle's guest.

    A deleted account is still returned by core_user_get_users_by_field `field=id` (renamed, see
    `models.is_deleted`), and what Moodle answers for writes to it differs by release (4.3 `codingerror` or `null`,
    4.5 `userdeleted`): so the connector asks first, in one read, and treats it as gone on every release.
    """
    ids = sorted(set(user_ids))
    found = {u.id: u for u in await client.users_by_field("id", [str(i) for i in ids])} if ids else {}
    return dead(ids, found, guest=guest)


def dead(user_ids: Iterable[int], found: Mapping[int, MoodleUser], *, guest: bool = True) -> dict[int, OpResult]:
    """`not_live` of accounts already read by id (`found`: what core_user_get_users_by_field answered)."""
    failures: dict[int, OpResult] = {}
    for user_id in user_ids:
        user = found.get(user_id)
        if user is None:
            failures[user_id] = OpResult.failed("account not found", code="invaliduserid")
        elif is_deleted(user):
            failures[user_id] = OpResult.failed("the account is deleted", code="userdeleted")
        elif not guest and user.username == mapping.GUEST_USERNAME:  # 4.5+ refuses to enrol it; 4.3 would
            failures[user_id] = OpResult.failed("the guest account cannot be used", code="guestsarenotallowed")
    return failures


def account_ref(user_id: int | str) -> ExternalRef:
    """A reference to a Moodle account by its user id."""
    return ExternalRef(kind="account", id=str(user_id))


class UserWriter:
    def __init__(self, client: MoodleClient, config: MoodleConfig, facts: SiteFacts) -> None:
        self._client = client
        self._config = config
        self._facts = facts
        # The accounts this writer created: live, since nothing in enrolsync deletes an account. Writers of the same
        # apply step enrol them without asking Moodle first (`not_live`); only an admin deleting one within the
        # step could mislead that, and the next full run sees it gone either way.
        self.created: set[int] = set()

    async def _drop_absent_auths(self, payloads: dict[int, dict[str, Any]], out: Outcomes) -> None:
        """Fail alone each op whose auth plugin the site lacks: sent, it would fail every user of its batch."""
        auths = {p["auth"] for p in payloads.values() if "auth" in p}
        absent = set(await self._facts.absent("auth", auths)) if auths else set()
        for index in [i for i, p in payloads.items() if p.get("auth") in absent]:
            out[index] = OpResult.failed(absent_reason("auth", payloads.pop(index)["auth"]), code="invalidparameter")

    # -- create ---------------------------------------------------------------------------------------------------
    async def create(self, items: Sequence[tuple[int, CreateUser]], out: Outcomes) -> None:
        """Create accounts; an account with the same idnumber or username already there is `already`."""
        payloads: dict[int, dict[str, Any]] = {}
        for index, op in items:
            try:
                payloads[index] = mapping.create_payload(
                    op.fields, default_auth=self._config.default_auth, job_title_field=self._config.job_title_field
                )
            except ValueError as error:
                out[index] = OpResult.failed(str(error))
        await self._drop_absent_auths(payloads, out)
        existing = await self._existing([payloads[i] for i in payloads])
        to_send: list[tuple[int, dict[str, Any]]] = []
        for index, payload in payloads.items():
            match = _match(payload, existing)
            if isinstance(match, OpResult):
                out[index] = match
            else:
                to_send.append((index, payload))
        size = self._config.create_batch_size
        for start in range(0, len(to_send), size):
            await send_isolated(to_send[start : start + size], self._send_create, record_into(out))

    async def _existing(self, payloads: Sequence[dict[str, Any]]) -> list[MoodleUser]:
        keys = {"idnumber": [p["idnumber"] for p in payloads if p.get("idnumber")]}
        keys["username"] = [p["username"] for p in payloads]
        reads = all_of(self._client.users_by_field(field, values) for field, values in keys.items() if values)
        return [user for found in await reads for user in found]

    async def _send_create(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        created = await self._client.create_users([payload for _, payload in batch])
        ids = {user.username: user.id for user in created}
        self.created.update(ids.values())
        return [OpResult.done(account_ref(ids[payload["username"]])) for _, payload in batch]

    # -- profile, status and SSO changes --------------------------------------------------------------------------
    async def change(self, items: Sequence[tuple[int, UserChange]], out: Outcomes) -> None:
        """Apply field changes; an account already in the wanted state is `already` and gets no write."""
        wanted = {i: mapping.numeric_id(op.account_id) for i, op in items}
        users = {u.id: u for u in await self._client.users_by_field("id", [str(v) for v in wanted.values() if v])}
        to_send: dict[int, dict[str, Any]] = {}
        for index, op in items:
            user = users.get(wanted[index] or 0)
            if user is None:
                out[index] = OpResult.failed("account not found", code="invaliduserid")
                continue
            if is_deleted(user):
                out[index] = OpResult.failed("the account is deleted", code="userdeleted")
                continue
            try:
                payload = self._payload(op, user)
            except ValueError as error:
                out[index] = OpResult.failed(str(error))
                continue
            if payload is None:
                out[index] = OpResult.already(account_ref(user.id))
            else:
                to_send[index] = payload
        await self._drop_absent_auths(to_send, out)
        sends = list(to_send.items())
        for start in range(0, len(sends), UPDATE_CHUNK):
            await send_isolated(sends[start : start + UPDATE_CHUNK], self._send_update, record_into(out))

    def _payload(self, op: UserChange, user: MoodleUser) -> dict[str, Any] | None:
        if isinstance(op, UpdateUser):
            return mapping.update_payload(user, op.fields, job_title_field=self._config.job_title_field)
        if isinstance(op, SetSsoIdentity):
            return mapping.sso_payload(user, op.auth, op.subject, self._config.sso_subject_field)
        suspend = isinstance(op, DeactivateUser)
        return None if user.suspended == suspend else {"id": user.id, "suspended": suspend}

    async def _send_update(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        warnings = await self._client.update_users([payload for _, payload in batch])
        by_user: dict[int, Warning] = {w.itemid: w for w in warnings if w.item == "user"}
        return [_updated(payload["id"], by_user.get(payload["id"])) for _, payload in batch]


def _updated(user_id: int, warning: Warning | None) -> OpResult:
    if warning is None:
        return OpResult.done(account_ref(user_id))
    reason = _WARNINGS.get(warning.warningcode, f"Moodle skipped the update ({warning.warningcode})")
    return OpResult.failed(reason, code=warning.warningcode or None)


def _match(payload: dict[str, Any], existing: Sequence[MoodleUser]) -> OpResult | None:
    """`already` for the account this create would duplicate; a failure when the username is someone else's."""
    idnumber = payload.get("idnumber") or ""
    if idnumber:
        for user in existing:
            if user.idnumber == idnumber:
                return OpResult.already(account_ref(user.id))
    for user in existing:
        if user.username == payload["username"]:
            if idnumber and user.idnumber and user.idnumber != idnumber:
                return OpResult.failed("the username belongs to an account with another idnumber")
            return OpResult.already(account_ref(user.id))
    return None
