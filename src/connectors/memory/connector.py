"""Memory source and target. They honour the full contract (pages, checkpoints, idempotent ops, errors)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import (
    Capability,
    ConnectorInfo,
    Cursor,
    ProgressReader,
    ReadRetryPolicy,
    SourceClass,
    TargetClass,
)
from enrolsync.connectors.errors import AuthError, Invalid, NotFound
from enrolsync.connectors.kit.batching import apply_each
from enrolsync.connectors.kit.retry import ReadRetry, with_retry
from enrolsync.connectors.memory import events as memory_events
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.state import MemoryHris, MemoryLms, dataset
from enrolsync.connectors.memory.target_ops import apply_op
from enrolsync.connectors.model import (
    Account,
    CheckResult,
    Course,
    Enrolment,
    GroupMembership,
    HrEvent,
    Page,
    Person,
    Progress,
    ProgressState,
    RawRequest,
    RoleAssignment,
    SsoIdentity,
)
from enrolsync.connectors.ops import Op, OpKind, OpResult


class MemorySource:
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="memory-source",
        kind="hris",
        title="In-memory HR system (tests and demo)",
        config_model=MemoryConfig,
        capabilities=frozenset(
            {Capability.PERSONS_FULL, Capability.PERSONS_INCREMENTAL, Capability.PERSONS_BY_ID, Capability.EVENTS}
        ),
    )

    def __init__(self, config: MemoryConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or ReadRetry()

    @property
    def _hris(self) -> MemoryHris:
        hris = dataset(self.config.dataset).hris
        if hris.token != self.config.token.get_secret_value():
            raise AuthError("invalid token", status=401)
        return hris

    async def _call(self) -> MemoryHris:
        async def attempt() -> MemoryHris:
            hris = self._hris
            if hris.fail_next:
                raise hris.fail_next.pop(0)
            return hris

        return await with_retry(attempt, self.retry)

    async def check(self) -> CheckResult:
        try:
            hris = await self._call()
        except AuthError as error:
            return CheckResult(ok=False, detail=f"credentials rejected: {error.reason}")
        return CheckResult(ok=True, detail="reachable", facts={"persons": len(hris.persons)})

    async def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        hris = await self._call()
        state: dict[str, Any] = json.loads(since) if since else {"mode": "full", "start": hris.clock, "after": ""}
        size = self.config.page_size
        if state["mode"] == "full":
            start = state["start"]
            ids = sorted(i for i in hris.persons if i > state["after"])
            for offset in range(0, len(ids), size):
                chunk = ids[offset : offset + size]
                last = offset + size >= len(ids)
                cursor = {"mode": "since", "clock": start}
                if not last:
                    cursor = {"mode": "full", "start": start, "after": chunk[-1]}
                yield Page(items=tuple(hris.persons[i] for i in chunk), checkpoint=json.dumps(cursor))
                hris = await self._call()
            if not ids:
                yield Page(items=(), checkpoint=json.dumps({"mode": "since", "clock": start}))
            return
        clock = state["clock"]
        now = hris.clock
        changed = sorted((i for i, at in hris.changed_at.items() if at > clock), key=hris.changed_at.__getitem__)
        removed = tuple(sorted(i for i, at in hris.removed_at.items() if at > clock))
        final = json.dumps({"mode": "since", "clock": now})
        if not changed:
            yield Page(items=(), checkpoint=final, removed=removed)
            return
        for offset in range(0, len(changed), size):
            chunk = changed[offset : offset + size]
            last = offset + size >= len(changed)
            at = final if last else json.dumps({"mode": "since", "clock": hris.changed_at[chunk[-1]]})
            yield Page(
                items=tuple(hris.persons[i] for i in chunk), checkpoint=at, removed=removed if offset == 0 else ()
            )

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        hris = await self._call()
        wanted = sorted(set(hr_ids))
        found = tuple(hris.persons[i] for i in wanted if i in hris.persons)
        yield Page(items=found, removed=tuple(i for i in wanted if i not in hris.persons))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        return memory_events.parse(self.config, request)


class MemoryTarget:
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="memory-target",
        kind="lms",
        title="In-memory learning platform (tests and demo)",
        config_model=MemoryConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.ROLES_LISTED,
                Capability.GROUPS,
                Capability.SSO,
                Capability.MANAGER_SCOPE,
                Capability.COURSES,
                Capability.HARD_DELETE,
                Capability.PROGRESS,
            }
        ),
        batch_limits={OpKind.CREATE_USER: 50, OpKind.ENROL: 100},
    )

    def __init__(self, config: MemoryConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or ReadRetry()

    def _lms(self) -> MemoryLms:
        lms = dataset(self.config.dataset).lms
        if lms.token != self.config.token.get_secret_value():
            raise AuthError("invalid token", status=401)
        if lms.fail_next:
            raise lms.fail_next.pop(0)
        return lms

    async def _read(self) -> MemoryLms:
        async def attempt() -> MemoryLms:
            return self._lms()

        return await with_retry(attempt, self.retry)

    async def check(self) -> CheckResult:
        try:
            lms = await self._read()
        except AuthError as error:
            return CheckResult(ok=False, detail=f"credentials rejected: {error.reason}")
        return CheckResult(ok=True, detail="reachable", facts={"accounts": len(lms.accounts)})

    async def list_accounts(self) -> AsyncIterator[Account]:
        for account in list((await self._read()).accounts.values()):
            yield account

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        lms = await self._read()
        wanted = None if course_ids is None else set(course_ids)
        for account_id, course_id in sorted(lms.enrolments):
            if wanted is None or course_id in wanted:
                started = (account_id, course_id) in lms.started
                yield Enrolment(account_id=account_id, course_id=course_id, started=started)

    async def list_progress(
        self, *, course_ids: Collection[str], since: datetime | None = None
    ) -> AsyncIterator[Progress]:
        """Every enrolment's progress; `since` is ignored (the contract lets a target list everything)."""
        lms = await self._read()
        if lms.fail_progress:
            raise lms.fail_progress.pop(0)
        wanted = set(course_ids)
        for account_id, course_id in sorted(lms.enrolments):
            if course_id not in wanted:
                continue
            known = lms.progress.get((account_id, course_id))
            if known is None:
                started = (account_id, course_id) in lms.started
                state = ProgressState.IN_PROGRESS if started else ProgressState.NOT_STARTED
                known = Progress(account_id=account_id, course_id=course_id, state=state)
            yield known

    async def list_courses(self) -> AsyncIterator[Course]:
        lms = await self._read()
        for course_id in sorted(lms.courses):
            code = lms.course_codes.get(course_id)
            yield Course(course_id=course_id, name=course_id, keys={"code": code} if code else {})

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        for assignment in sorted((await self._read()).roles, key=repr):
            yield assignment

    async def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        for account_id, group_id in sorted((await self._read()).groups):
            yield GroupMembership(account_id=account_id, group_id=group_id)

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        for account_id, (auth, subject) in sorted((await self._read()).sso.items()):
            yield SsoIdentity(account_id=account_id, auth=auth, subject=subject)

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        if field not in ("external_id", "email", "username"):
            raise Invalid(f"cannot look accounts up by {field!r}")
        wanted = {v.strip().lower() for v in values}
        lms = await self._read()
        return [a for a in lms.accounts.values() if (str(getattr(a.fields, field) or "")).strip().lower() in wanted]

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        lms = self._lms()  # a whole-call failure (auth, injected outage) raises before any op

        async def one(op: Op) -> OpResult:
            if op.kind not in (OpKind.CREATE_USER, OpKind.DELETE_USER) and op.account_id not in lms.accounts:
                raise NotFound("account not found", status=404)
            return apply_op(lms, op)

        before = lms.writes
        results = await apply_each(ops, one, concurrency=1)
        lms.write_calls += lms.writes > before
        return results


# The contract, checked: mypy fails here when a method or the constructor drifts from the protocols.
_source_contract: SourceClass = MemorySource
_target_contract: TargetClass = MemoryTarget


def _reads_progress(target: MemoryTarget) -> ProgressReader:
    return target  # mypy checks `list_progress` against the optional protocol
