"""The shared contract suites. A connector's `test_contract.py` subclasses one and provides fixtures.

Source fixtures: `connector_cls`, `fake` (a seeded `FakeServer`), `config`, `bad_config`, `expected_hr_ids`,
`mutate` (callable(fake) -> hr_id it changed) and, for EVENTS, `event_request` (a validly signed RawRequest) and
`event_hr_id`.
Target fixtures: `connector_cls`, `fake`, `config`, `bad_config`, `course_ids` (two existing courses), `roles`
(logical role names the system supports), `sso_auth`, `existing_accounts` (account ids seeded in the fake) and,
for ENROLMENTS, `mark_started` (callable(fake, account_id, course_id) giving the learner progress in the course).

Ops whose capability the connector does not declare are skipped, so every declared capability is proven.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

import pydantic
import pytest
from structlog.testing import capture_logs

from enrolsync.connectors.base import (
    AccountLookup,
    Capability,
    Connector,
    ConnectorClass,
    ConnectorConfig,
    CourseCatalog,
    Cursor,
    ProgressReader,
    RolesOfAccounts,
    SourceClass,
    SourceConnector,
    TargetClass,
    TargetConnector,
)
from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import AccountFields, Person, ProgressState, RawRequest, RoleAssignment, RoleScope
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    Enrol,
    Op,
    OpKind,
    OpResult,
    ReactivateUser,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
)
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer

GROUP = "enrolsync.connectors"
C = TypeVar("C", bound=Connector)


def secret_values(config: ConnectorConfig) -> list[str]:
    return [v.get_secret_value() for v in config.__dict__.values() if isinstance(v, pydantic.SecretStr)]


async def collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


class _Common(Generic[C]):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    async def connector(
        self, connector_cls: ConnectorClass[C], config: ConnectorConfig, fake: FakeServer, clock: FakeClock
    ) -> AsyncIterator[C]:
        async with build_client(config, transport=fake.transport()) as http:
            yield connector_cls(config, http, retry=ReadRetry(attempts=4, clock=clock))

    @pytest.fixture
    async def bad_connector(
        self, connector_cls: ConnectorClass[C], bad_config: ConnectorConfig, fake: FakeServer
    ) -> AsyncIterator[C]:
        async with build_client(bad_config, transport=fake.transport()) as http:
            yield connector_cls(bad_config, http, retry=ReadRetry(attempts=2, clock=FakeClock()))

    def requires(self, connector_cls: ConnectorClass[Connector], capability: Capability) -> None:
        if capability not in connector_cls.info.capabilities:
            pytest.skip(f"{connector_cls.info.key} does not declare {capability}")

    async def test_check_ok(self, connector: C) -> None:
        result = await connector.check()
        assert result.ok, result.detail

    async def test_check_bad_credentials_is_a_result(self, bad_connector: C, bad_config: ConnectorConfig) -> None:
        with capture_logs() as logs:
            result = await bad_connector.check()
        assert not result.ok
        for secret in secret_values(bad_config):
            assert secret not in result.detail
            assert secret not in json.dumps(logs, default=str)

    def test_config_schema(self, connector_cls: ConnectorClass[C], config: ConnectorConfig) -> None:
        model = connector_cls.info.config_model
        schema = model.model_json_schema()
        json.dumps(schema)
        for name, field in model.model_fields.items():
            if field.annotation is not None and "SecretStr" in str(field.annotation):
                assert schema["properties"][name].get("writeOnly") is True or "anyOf" in schema["properties"][name]
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({**config.model_dump(mode="json"), "no_such_option": 1})

    def test_key_is_the_entry_point_name(self, connector_cls: ConnectorClass[C]) -> None:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        key = connector_cls.info.key
        assert key in found, f"no entry point named {key!r}"
        assert found[key].load() is connector_cls, f"entry point {key!r} loads {found[key].value}, not this class"


class SourceContract(_Common[SourceConnector]):
    async def read_all(
        self, connector: SourceConnector, since: Cursor | None = None
    ) -> tuple[list[Person], list[str], str | None]:
        persons: list[Person] = []
        removed: list[str] = []
        checkpoint = None
        async for page in connector.read_persons(since):
            persons.extend(page.items)
            removed.extend(page.removed)
            checkpoint = page.checkpoint
        return persons, removed, checkpoint

    async def test_full_read_yields_everyone_once(self, connector: SourceConnector, expected_hr_ids: set[str]) -> None:
        persons, _, checkpoint = await self.read_all(connector)
        ids = [p.hr_id for p in persons]
        assert len(ids) == len(set(ids)), "a person was yielded twice"
        assert set(ids) == expected_hr_ids
        assert checkpoint is not None

    async def test_checkpoint_resumes_after_changes(
        self,
        connector: SourceConnector,
        connector_cls: SourceClass,
        fake: FakeServer,
        mutate: Callable[[FakeServer], str],
    ) -> None:
        self.requires(connector_cls, Capability.PERSONS_INCREMENTAL)
        everyone, _, checkpoint = await self.read_all(connector)
        changed = mutate(fake)
        persons, removed, _ = await self.read_all(connector, Cursor(checkpoint or ""))
        seen = {p.hr_id for p in persons} | set(removed)
        assert changed in seen
        assert len(seen) < len(everyone), "an incremental read returned everyone"

    async def test_reading_named_people_reads_just_them(
        self, connector: SourceConnector, connector_cls: SourceClass, expected_hr_ids: set[str]
    ) -> None:
        self.requires(connector_cls, Capability.PERSONS_BY_ID)
        named = sorted(expected_hr_ids)[:3]
        persons: list[Person] = []
        removed: list[str] = []
        async for page in connector.read_people([*named, "no-such-person-9041"]):
            persons.extend(page.items)
            removed.extend(page.removed)
        assert sorted(p.hr_id for p in persons) == named
        assert removed == ["no-such-person-9041"]

    async def test_throttle_is_honoured(
        self, connector: SourceConnector, fake: FakeServer, clock: FakeClock, expected_hr_ids: set[str]
    ) -> None:
        fake.fail_next(1, status=503, retry_after=7)
        fake.fail_next(1, status=429, retry_after=3)
        persons, _, _ = await self.read_all(connector)
        assert {p.hr_id for p in persons} == expected_hr_ids
        assert 7 in clock.sleeps and 3 in clock.sleeps

    async def test_server_errors_are_retried(
        self, connector: SourceConnector, fake: FakeServer, expected_hr_ids: set[str]
    ) -> None:
        fake.fail_next(2, status=502)
        persons, _, _ = await self.read_all(connector)
        assert {p.hr_id for p in persons} == expected_hr_ids

    async def test_timeouts_are_transient(self, connector: SourceConnector, fake: FakeServer) -> None:
        fake.timeout_next(10)
        with pytest.raises(TransientError):
            await self.read_all(connector)

    async def test_bad_credentials_raise_auth_error(self, bad_connector: SourceConnector) -> None:
        with pytest.raises(AuthError):
            await self.read_all(bad_connector)

    def test_event_with_valid_signature(
        self, connector_cls: SourceClass, connector: SourceConnector, request: pytest.FixtureRequest
    ) -> None:
        self.requires(connector_cls, Capability.EVENTS)
        event_request: RawRequest = request.getfixturevalue("event_request")
        events = connector.parse_event(event_request)
        assert request.getfixturevalue("event_hr_id") in {e.hr_id for e in events}
        assert [e.event_id for e in events] == [e.event_id for e in connector.parse_event(event_request)]

    def test_event_with_tampered_body_is_rejected(
        self, connector_cls: SourceClass, connector: SourceConnector, request: pytest.FixtureRequest
    ) -> None:
        self.requires(connector_cls, Capability.EVENTS)
        event_request: RawRequest = request.getfixturevalue("event_request")
        tampered = event_request.model_copy(update={"body": event_request.body + b" "})
        with pytest.raises(AuthError):
            connector.parse_event(tampered)


def _fields(n: int) -> AccountFields:
    return AccountFields(
        username=f"contract.user{n}",
        given_name="Contract",
        family_name=f"User {n}",
        email=f"contract.user{n}@example.com",
        external_id=f"CT-{n}",
    )


class TargetContract(_Common[TargetConnector]):
    async def create(self, connector: TargetConnector, n: int) -> str:
        [result] = await connector.apply([CreateUser(hr_id=f"CT-{n}", fields=_fields(n))])
        assert result.outcome == "done", result
        assert result.ref is not None
        return str(result.ref.id)

    async def apply_twice(self, connector: TargetConnector, op: Op) -> tuple[OpResult, OpResult]:
        [first] = await connector.apply([op])
        [second] = await connector.apply([op])
        return first, second

    async def test_lists_seeded_accounts(self, connector: TargetConnector, existing_accounts: set[str]) -> None:
        listed = {a.account_id for a in await collect(connector.list_accounts())}
        assert existing_accounts <= listed

    async def test_accounts_read_by_id_are_those_listed(
        self, connector: TargetConnector, connector_cls: TargetClass, sso_auth: str
    ) -> None:
        """`AccountLookup.read_accounts` shows what the lists show for the ids named, and nothing for an id the
        target does not hold: a full run relies on both (drift repair, an account deleted by hand)."""
        if not isinstance(connector, AccountLookup):
            pytest.skip(f"{connector_cls.info.key} reads accounts by listing them (no AccountLookup)")
        plain, signed_in = await self.create(connector, 15), await self.create(connector, 16)
        await connector.apply([DeactivateUser(hr_id="CT-15", account_id=plain)])
        if Capability.SSO in connector_cls.info.capabilities:
            subject = "contract.user16@example.com"
            await connector.apply([SetSsoIdentity(hr_id="CT-16", account_id=signed_in, auth=sso_auth, subject=subject)])
        listed = {
            a.account_id: a for a in await collect(connector.list_accounts()) if a.account_id in (plain, signed_in)
        }
        identities = (
            {i.account_id: i for i in await collect(connector.list_sso_identities())}
            if (Capability.SSO in connector_cls.info.capabilities)
            else {}
        )

        records = await collect(connector.read_accounts([plain, signed_in, "424242424"]))

        assert {r.account.account_id: r.account for r in records} == listed
        assert {r.account.account_id: r.sso for r in records} == {a: identities.get(a) for a in listed}
        assert await collect(connector.read_accounts([])) == []

    async def test_create_is_idempotent(self, connector: TargetConnector) -> None:
        account_id = await self.create(connector, 1)
        [again] = await connector.apply([CreateUser(hr_id="CT-1", fields=_fields(1))])
        assert again.outcome == "already" and again.ref is not None and again.ref.id == account_id
        found = await connector.find_accounts(field="external_id", values=["CT-1"])
        assert [a.account_id for a in found] == [account_id]
        assert sum(a.fields.username == "contract.user1" for a in await collect(connector.list_accounts())) == 1

    async def test_deactivate_and_reactivate(self, connector: TargetConnector) -> None:
        account_id = await self.create(connector, 2)
        first, second = await self.apply_twice(connector, DeactivateUser(hr_id="CT-2", account_id=account_id))
        assert (first.outcome, second.outcome) == ("done", "already")
        accounts = {a.account_id: a for a in await collect(connector.list_accounts())}
        assert accounts[account_id].active is False
        [back] = await connector.apply([ReactivateUser(hr_id="CT-2", account_id=account_id)])
        assert back.outcome == "done"
        accounts = {a.account_id: a for a in await collect(connector.list_accounts())}
        assert accounts[account_id].active is True

    async def test_enrol_round_trip(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str]
    ) -> None:
        self.requires(connector_cls, Capability.ENROLMENTS)
        account_id = await self.create(connector, 3)
        first, second = await self.apply_twice(
            connector, Enrol(hr_id="CT-3", account_id=account_id, course_id=course_ids[0])
        )
        assert (first.outcome, second.outcome) == ("done", "already")
        enrolled = {(e.account_id, e.course_id) for e in await collect(connector.list_enrolments())}
        assert (account_id, course_ids[0]) in enrolled

    async def test_unenrol_round_trip(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str]
    ) -> None:
        self.requires(connector_cls, Capability.ENROLMENTS)
        account_id = await self.create(connector, 8)
        await connector.apply([Enrol(hr_id="CT-8", account_id=account_id, course_id=course_ids[0])])
        first, second = await self.apply_twice(
            connector, Unenrol(hr_id="CT-8", account_id=account_id, course_id=course_ids[0])
        )
        assert (first.outcome, second.outcome) == ("done", "already")
        enrolled = {(e.account_id, e.course_id) for e in await collect(connector.list_enrolments())}
        assert (account_id, course_ids[0]) not in enrolled

    async def test_a_started_enrolment_is_never_removed(
        self,
        connector: TargetConnector,
        connector_cls: TargetClass,
        course_ids: list[str],
        fake: FakeServer,
        request: pytest.FixtureRequest,
    ) -> None:
        self.requires(connector_cls, Capability.ENROLMENTS)
        account_id = await self.create(connector, 9)
        await connector.apply([Enrol(hr_id="CT-9", account_id=account_id, course_id=course_ids[0])])
        request.getfixturevalue("mark_started")(fake, account_id, course_ids[0])

        [result] = await connector.apply([Unenrol(hr_id="CT-9", account_id=account_id, course_id=course_ids[0])])

        assert result.outcome == "already"
        listed = [e for e in await collect(connector.list_enrolments()) if e.account_id == account_id]
        assert [(e.course_id, e.started) for e in listed] == [(course_ids[0], True)]

    async def test_courses_are_listed_with_their_ids(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str]
    ) -> None:
        """What an enrolment names is a listed course's id, so rules naming courses by key resolve to it."""
        self.requires(connector_cls, Capability.COURSES)
        assert isinstance(connector, CourseCatalog), "declares COURSES but has no list_courses"
        listed = await collect(connector.list_courses())
        assert set(course_ids) <= {course.course_id for course in listed}
        assert len({course.course_id for course in listed}) == len(listed), "each course once"

    async def test_enrolments_can_be_listed_for_some_courses(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str]
    ) -> None:
        self.requires(connector_cls, Capability.ENROLMENTS)
        account_id = await self.create(connector, 13)
        await connector.apply([Enrol(hr_id="CT-13", account_id=account_id, course_id=c) for c in course_ids[:2]])

        listed = await collect(connector.list_enrolments(course_ids=[course_ids[1], "no-such-course-424242"]))

        assert {e.course_id for e in listed} == {course_ids[1]}
        assert (account_id, course_ids[1]) in {(e.account_id, e.course_id) for e in listed}
        assert await collect(connector.list_enrolments(course_ids=[])) == []

    async def test_progress_lists_each_enrolment_without_writing(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str], fake: FakeServer
    ) -> None:
        """A fresh enrolment reads back as not started; reading progress never writes (issue 16)."""
        self.requires(connector_cls, Capability.PROGRESS)
        assert isinstance(connector, ProgressReader), "declares PROGRESS but has no list_progress"
        account_id = await self.create(connector, 14)
        await connector.apply([Enrol(hr_id="CT-14", account_id=account_id, course_id=course_ids[0])])
        writes = len(fake.writes)

        listed = await collect(connector.list_progress(course_ids=[course_ids[0], "no-such-course-424242"]))

        mine = [p for p in listed if p.account_id == account_id]
        assert [(p.course_id, p.state, p.completed_at) for p in mine] == [
            (course_ids[0], ProgressState.NOT_STARTED, None)
        ]
        assert {p.course_id for p in listed} == {course_ids[0]}
        assert len(fake.writes) == writes

    async def test_manager_scope_round_trip(
        self, connector: TargetConnector, connector_cls: TargetClass, roles: list[str]
    ) -> None:
        self.requires(connector_cls, Capability.MANAGER_SCOPE)
        manager, report = await self.create(connector, 4), await self.create(connector, 5)
        op = AssignRole(
            hr_id="CT-4", account_id=manager, role="manager", scope=RoleScope.USER, scope_id=report, scope_hr_id="CT-5"
        )
        first, second = await self.apply_twice(connector, op)
        assert (first.outcome, second.outcome) == ("done", "already")
        held = await collect(connector.list_role_assignments())
        assert any(r.account_id == manager and r.scope is RoleScope.USER and r.scope_id == report for r in held)

    async def test_listed_roles_name_what_was_granted_and_drop_what_was_revoked(
        self, connector: TargetConnector, connector_cls: TargetClass
    ) -> None:
        """ROLES_LISTED: drift compares the listing with what the ops granted, so a grant is listed exactly as the
        op named it (logical role, scope, the report's account id), confirmed, and is gone once revoked."""
        self.requires(connector_cls, Capability.ROLES_LISTED)
        self.requires(connector_cls, Capability.MANAGER_SCOPE)
        manager, report = await self.create(connector, 15), await self.create(connector, 16)
        grant: dict[str, Any] = {"hr_id": "CT-15", "account_id": manager, "role": "manager", "scope": RoleScope.USER}
        grant |= {"scope_id": report, "scope_hr_id": "CT-16"}
        await connector.apply([AssignRole(**grant)])
        held = {
            (r.account_id, r.role, r.scope, r.scope_id, r.confirmed)
            for r in await collect(connector.list_role_assignments())
        }
        assert (manager, "manager", RoleScope.USER, report, True) in held
        await connector.apply([RevokeRole(**grant)])
        after = {(r.account_id, r.scope, r.scope_id) for r in await collect(connector.list_role_assignments())}
        assert (manager, RoleScope.USER, report) not in after

    async def test_roles_of_accounts_are_those_listed(
        self, connector: TargetConnector, connector_cls: TargetClass
    ) -> None:
        """RolesOfAccounts: the roles read for some accounts are what the whole listing says of them, pending
        records included, so drift sees the same whichever read the engine takes."""
        self.requires(connector_cls, Capability.ROLES_LISTED)
        self.requires(connector_cls, Capability.MANAGER_SCOPE)
        if not isinstance(connector, RolesOfAccounts):
            pytest.skip(f"{connector_cls.info.key} lists roles only as a whole")
        manager, report = await self.create(connector, 17), await self.create(connector, 18)
        grant: dict[str, Any] = {"hr_id": "CT-17", "account_id": manager, "role": "manager", "scope": RoleScope.USER}
        await connector.apply([AssignRole(**grant, scope_id=report, scope_hr_id="CT-18")])
        mine = {manager, report}

        def of_mine(listing: list[RoleAssignment]) -> set[tuple[str, str, str | None, bool]]:
            return {(r.account_id, r.role, r.scope_id, r.confirmed) for r in listing if r.account_id in mine}

        whole = of_mine(await collect(connector.list_role_assignments()))
        some = of_mine(await collect(connector.list_roles_of([manager, report], course_ids=[])))

        assert (manager, "manager", report, True) in whole
        assert some == whole

    async def test_sso_identity_round_trip(
        self, connector: TargetConnector, connector_cls: TargetClass, sso_auth: str
    ) -> None:
        self.requires(connector_cls, Capability.SSO)
        account_id = await self.create(connector, 6)
        op = SetSsoIdentity(hr_id="CT-6", account_id=account_id, auth=sso_auth, subject="contract.user6@example.com")
        first, second = await self.apply_twice(connector, op)
        assert (first.outcome, second.outcome) == ("done", "already")
        identities = {(i.account_id, i.auth) for i in await collect(connector.list_sso_identities())}
        assert (account_id, sso_auth) in identities

    async def test_one_result_per_op_in_order(
        self, connector: TargetConnector, connector_cls: TargetClass, course_ids: list[str]
    ) -> None:
        self.requires(connector_cls, Capability.ENROLMENTS)
        account_id = await self.create(connector, 7)
        ops: list[Op] = [
            Enrol(hr_id="CT-7", account_id=account_id, course_id=course_ids[0]),
            Enrol(hr_id="CT-7", account_id=account_id, course_id="no-such-course-424242"),
            Enrol(hr_id="CT-7", account_id=account_id, course_id=course_ids[1]),
        ]
        results = await connector.apply(ops)
        assert [r.outcome for r in results] == ["done", "failed", "done"]

    async def test_create_batch_goes_out_together(
        self, connector: TargetConnector, connector_cls: TargetClass, fake: FakeServer
    ) -> None:
        limit = connector_cls.info.batch_limits.get(OpKind.CREATE_USER, 1)
        if limit < 3:
            pytest.skip("no batch endpoint for creating users")
        before = len(fake.writes)
        results = await connector.apply([CreateUser(hr_id=f"CT-{n}", fields=_fields(n)) for n in (10, 11, 12)])
        assert [r.outcome for r in results] == ["done"] * 3
        assert len(fake.writes) - before == 1

    async def test_reads_honour_throttling(
        self, connector: TargetConnector, fake: FakeServer, clock: FakeClock, existing_accounts: set[str]
    ) -> None:
        fake.fail_next(1, status=503, retry_after=5)
        listed = {a.account_id for a in await collect(connector.list_accounts())}
        assert existing_accounts <= listed
        assert 5 in clock.sleeps

    async def test_writes_are_not_retried_on_server_errors(self, connector: TargetConnector, fake: FakeServer) -> None:
        fake.fail_next(1, status=503, when=fake.is_write)
        try:
            results = await connector.apply([CreateUser(hr_id="CT-20", fields=_fields(20))])
        except TransientError:
            results = None
        if results is not None:
            assert [r.outcome for r in results] == ["retry"]
        created = [a for a in await collect(connector.list_accounts()) if a.fields.username == "contract.user20"]
        assert created == []

    async def test_bad_credentials_raise_auth_error(self, bad_connector: TargetConnector) -> None:
        with pytest.raises(AuthError):
            await collect(bad_connector.list_accounts())

    async def test_errors_carry_no_secret(self, bad_connector: TargetConnector, bad_config: ConnectorConfig) -> None:
        with capture_logs() as logs, pytest.raises(ConnectorError) as caught:
            await bad_connector.apply([CreateUser(hr_id="CT-30", fields=_fields(30))])
        for secret in secret_values(bad_config):
            assert secret not in str(caught.value)
            assert secret not in json.dumps(logs, default=str)
