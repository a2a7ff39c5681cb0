"""Each op as TalentLMS calls: user writes, enrollments (learner or instructor), groups and branches.

Every handler is idempotent: it reads what it must to answer `already` (a user's status before deactivating,
an enrollment's progress before removing it) or recognises TalentLMS's own "already" answers (a 400 for an
enrollment or a membership that exists).
"""

from __future__ import annotations

from enrolsync.connectors.errors import Invalid, NotFound
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    OpResult,
    ReactivateUser,
    RemoveFromGroup,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.connectors.talentlms import mapping
from enrolsync.connectors.talentlms.client import TalentLMSClient, body_of
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.models import Progress, UserDetail, UserItem
from enrolsync.connectors.talentlms.teams import Teams

USERS, ENROLLMENTS, PROGRESS = "api/v2/users", "api/v2/enrollments", "api/v2/course-progress"
ALREADY_ENROLLED = "already enrolled"  # TalentLMS's 400 for an enrollment that exists
TAKEN = "has already been taken"  # TalentLMS's 400 for a login or email another user holds
COURSE_ROLES = {"learner": "learner", "instructor": "instructor"}  # logical role -> TalentLMS course role


def _account(account_id: str | None) -> int:
    number = mapping.numeric(account_id)
    if number is None:
        raise NotFound(f"no TalentLMS user id {account_id!r}")
    return number


class Writers:
    def __init__(self, client: TalentLMSClient, config: TalentLMSConfig, teams: Teams) -> None:
        self._client = client
        self._config = config
        self._teams = teams
        # What this connector itself just wrote (login, email, status by user id): an SSO op right after the
        # create that set the same login needs no read to answer `already` (one call less per joiner).
        self._written: dict[int, dict[str, str]] = {}

    async def _user(self, user_id: int) -> UserDetail:
        return await self._client.get(f"{USERS}/{user_id}", UserDetail)

    async def _field(self, user_id: int, name: str) -> str:
        known = self._written.get(user_id, {})
        return known[name] if name in known else str(getattr(await self._user(user_id), name))

    def _wrote(self, user_id: int, body: dict[str, object]) -> None:
        known = self._written.setdefault(user_id, {})
        known.update({k: str(v) for k, v in body.items() if k in ("login", "email", "status")})

    # -- users ----------------------------------------------------------------------------------------------------
    async def create(self, op: CreateUser) -> OpResult:
        body = {**mapping.user_body(op.fields, self._config), "password": mapping.new_password()}
        try:
            response = await self._client.write("POST", USERS, body)
        except Invalid as error:
            if TAKEN not in error.reason:
                raise
            return await self._existing(op, error)
        user_id = int(body_of(response)["_data"]["id"])
        self._wrote(user_id, {**body, "status": "active"})
        return OpResult.done(ExternalRef(kind="account", id=str(user_id)))

    async def _existing(self, op: CreateUser, refusal: Invalid) -> OpResult:
        """A create refused for a taken login or email: `already` when that account is this person's own (same
        HR id, or, without an HR id field, the same login and email), else the refusal stands."""
        found: dict[int, UserItem] = {}
        for name, value in (("login", op.fields.username), ("email", op.fields.email)):
            async for page in self._client.pages(USERS, UserItem, **{f"filter[{name}][eq]": value}):
                found |= {u.id: u for u in page}
        for user_id in sorted(found):
            user = await self._user(user_id)
            mine = mapping.to_account(user, self._config).fields
            same_id = mine.external_id is not None and mine.external_id == op.fields.external_id
            same_pair = mine.email.casefold() == op.fields.email.casefold() and self._config.external_id_field is None
            if same_id or same_pair:
                return OpResult.already(ExternalRef(kind="account", id=str(user.id)))
        raise refusal

    async def update(self, op: UpdateUser) -> OpResult:
        user_id = _account(op.account_id)
        body = mapping.user_body(op.fields, self._config)
        await self._client.write("PATCH", f"{USERS}/{user_id}", body)
        self._wrote(user_id, body)
        return OpResult.done(ExternalRef(kind="account", id=str(user_id)))

    async def status(self, op: DeactivateUser | ReactivateUser) -> OpResult:
        user_id = _account(op.account_id)
        wanted = "inactive" if isinstance(op, DeactivateUser) else "active"
        ref = ExternalRef(kind="account", id=str(user_id))
        if await self._field(user_id, "status") == wanted:
            return OpResult.already(ref)
        await self._client.write("PATCH", f"{USERS}/{user_id}", {"status": wanted})
        self._wrote(user_id, {"status": wanted})
        return OpResult.done(ref)

    async def delete(self, op: DeleteUser) -> OpResult:
        """`DELETE /api/v2/users/{id}`: the user goes with their enrollments and progress. Gone already (404) is
        `already`."""
        user_id = _account(op.account_id)
        ref = ExternalRef(kind="account", id=str(user_id))
        try:
            await self._client.write("DELETE", f"{USERS}/{user_id}", None)
        except NotFound:
            return OpResult.already(ref)
        self._written.pop(user_id, None)
        return OpResult.done(ref)

    async def sso(self, op: SetSsoIdentity) -> OpResult:
        """The portal's one SSO matches people by login (or email): the identity is that field's value."""
        if self._config.sso_auth is None or op.auth != self._config.sso_auth:
            return OpResult.failed(f"the portal's SSO is {self._config.sso_auth!r}, not {op.auth!r} (sso_auth)")
        user_id = _account(op.account_id)
        field = self._config.sso_subject_field
        ref = ExternalRef(kind="sso", id=str(user_id))
        if (await self._field(user_id, field)).casefold() == op.subject.casefold():
            return OpResult.already(ref)
        await self._client.write("PATCH", f"{USERS}/{user_id}", {field: op.subject})
        self._wrote(user_id, {field: op.subject})
        return OpResult.done(ref)

    # -- enrollments and course roles -------------------------------------------------------------------------------
    async def _enrol(self, user_id: int, course: str, role: str) -> OpResult:
        course_id = mapping.numeric(course)
        if course_id is None:
            return OpResult.failed(f"no TalentLMS course id {course!r}")
        ref = ExternalRef(kind="enrolment", id=f"{user_id}:{course_id}")
        try:
            await self._client.write("POST", ENROLLMENTS, {"course_id": course_id, "user_id": user_id, "role": role})
        except Invalid as error:
            if ALREADY_ENROLLED in error.reason:
                return OpResult.already(ref)
            raise
        return OpResult.done(ref)

    async def enrol(self, op: Enrol) -> OpResult:
        return await self._enrol(_account(op.account_id), op.course_id, "learner")

    async def unenrol(self, op: Unenrol) -> OpResult:
        user_id, course_id = _account(op.account_id), mapping.numeric(op.course_id)
        if course_id is None:
            return OpResult.already()  # no such course: nobody is enrolled in it
        ref = ExternalRef(kind="enrolment", id=f"{user_id}:{course_id}")
        try:
            progress = await self._client.get(PROGRESS, Progress, user_id=user_id, course_id=course_id)
        except NotFound:
            return OpResult.already(ref)
        if progress.started:
            return OpResult.already(ref)  # a started course is training record: kept
        try:
            await self._client.write("DELETE", ENROLLMENTS, {"course_id": course_id, "user_id": user_id})
        except NotFound:
            return OpResult.already(ref)
        return OpResult.done(ref)

    async def role(self, op: AssignRole | RevokeRole) -> OpResult:
        """Course roles become the enrollment's role (revoking one leaves a learner); roles over a report are
        team-group memberships (`teams.py`); system roles are the user's type (`user_types`)."""
        user_id = _account(op.account_id)
        if op.scope is RoleScope.COURSE and op.role in COURSE_ROLES and op.scope_id:
            role = COURSE_ROLES[op.role] if isinstance(op, AssignRole) else "learner"
            return await self._enrol(user_id, op.scope_id, role)
        if op.scope is RoleScope.USER:
            report = _account(op.scope_id)
            if isinstance(op, AssignRole):
                return await self._teams.assign(op, user_id, report)
            return await self._teams.revoke(op, user_id, report)
        if op.scope is RoleScope.SYSTEM and op.role in self._config.user_types:
            return await self._user_type(op, user_id)
        return OpResult.failed(f"TalentLMS cannot hold role {op.role!r} in {op.scope.value} scope")

    async def _user_type(self, op: AssignRole | RevokeRole, user_id: int) -> OpResult:
        """A system role is the user's type (one per user): assigning sets it, revoking falls back to learner's."""
        types = self._config.user_types
        user = await self._user(user_id)
        current = user.user_type.name if user.user_type else None
        ref = ExternalRef(kind="role", id=f"{user_id}:{op.role}")
        if isinstance(op, AssignRole):
            wanted = types[op.role]
        elif current == types[op.role] and op.role != "learner":
            wanted = types["learner"]
        else:
            return OpResult.already(ref)
        if current == wanted:
            return OpResult.already(ref)
        type_id = next((t.id for t in user.available_types if t.name == wanted), None)
        if type_id is None:
            return OpResult.failed(f"the portal has no user type {wanted!r} (user_types)")
        await self._client.write("PATCH", f"{USERS}/{user_id}", {"user_type_id": type_id})
        return OpResult.done(ref)

    # -- groups and branches -----------------------------------------------------------------------------------
    async def membership(self, op: AddToGroup | RemoveFromGroup) -> OpResult:
        user_id = _account(op.account_id)
        kind = "branch" if op.group_id.startswith(mapping.BRANCH_PREFIX) else "group"
        holder = mapping.numeric(op.group_id.removeprefix(mapping.BRANCH_PREFIX))
        if holder is None:
            return OpResult.failed(f"no TalentLMS {kind} id {op.group_id!r}")
        path = "api/v2/branch-users" if kind == "branch" else "api/v2/group-memberships"
        ref = ExternalRef(kind="group", id=f"{op.group_id}:{user_id}")
        try:
            method = "POST" if isinstance(op, AddToGroup) else "DELETE"
            await self._client.write(method, path, {f"{kind}_id": holder, "user_id": user_id})
        except Invalid as error:
            if isinstance(op, AddToGroup) and "already a member" in error.reason:
                return OpResult.already(ref)
            raise
        except NotFound:
            if isinstance(op, RemoveFromGroup):
                return OpResult.already(ref)
            raise
        return OpResult.done(ref)
