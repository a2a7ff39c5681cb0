"""The Moodle target against the fake site: enrolments and roles (course, system, and over a report)."""

from __future__ import annotations

import httpx

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.model import RoleScope
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.ops import AssignRole, Enrol, Op, RevokeRole, Unenrol
from tests.support.connectors import MIRROR_FIELD, collect


async def test_enrol_and_unenrol_round_trip(target: MoodleTarget, fake: FakeMoodle) -> None:
    enrol, unenrol = Enrol(hr_id="K", account_id="5", course_id="3"), Unenrol(hr_id="K", account_id="5", course_id="3")
    assert [r.outcome for r in await target.apply([enrol])] == ["done"]
    assert fake.courses_of(5) == {3} and ("student", "course", 3) in fake.roles_of(5)
    assert [r.outcome for r in await target.apply([enrol])] == ["already"]
    assert [r.outcome for r in await target.apply([unenrol])] == ["done"]
    assert fake.courses_of(5) == set() and fake.roles_of(5) == set()
    assert [r.outcome for r in await target.apply([unenrol])] == ["already"]


async def test_a_course_without_manual_enrolment_fails_alone(target: MoodleTarget, fake: FakeMoodle) -> None:
    closed = fake.add_course("CLOSED", manual=False)
    ops: list[Op] = [
        Enrol(hr_id="E1001", account_id="3", course_id="3"),
        Enrol(hr_id="E1001", account_id="3", course_id=str(closed)),
        Enrol(hr_id="K", account_id="5", course_id="3"),
        Enrol(hr_id="K", account_id="5", course_id="999"),
    ]
    results = await target.apply(ops)
    assert [r.outcome for r in results] == ["done", "failed", "done", "failed"]
    assert results[1].error is not None and results[1].error.code == "wsnoinstance"
    assert results[3].error is not None and results[3].error.code == "invalidrecord"
    assert fake.courses_of(3) == {2, 3} and fake.courses_of(5) == {3}


async def test_the_learner_role_id_is_learned_from_a_roster(fake: FakeMoodle, config: MoodleConfig) -> None:
    unconfigured = config.model_copy(update={"role_ids": {}})
    async with build_client(unconfigured, transport=fake.transport()) as http:
        target = MoodleTarget(unconfigured, http)
        # Course 3 has no participants yet: nothing tells which id 'student' has on this site.
        [blind] = await target.apply([Enrol(hr_id="K", account_id="5", course_id="3")])
        # Course 2's roster shows Alex as student (id 5): from then on the id is known.
        [seen] = await target.apply([Enrol(hr_id="K", account_id="5", course_id="2")])
        [now] = await target.apply([Enrol(hr_id="K", account_id="5", course_id="3")])
    assert blind.outcome == "failed" and blind.error is not None and "role_ids" in blind.error.reason
    assert (seen.outcome, now.outcome) == ("done", "done")


async def test_a_manager_holds_a_role_over_each_report(target: MoodleTarget, fake: FakeMoodle) -> None:
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    revoke = RevokeRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert ("parent", "user", 3) in fake.roles_of(4)  # the user context of report 3
    assert fake.user("alex.example").custom[MIRROR_FIELD] == "parent@4"  # type: ignore[union-attr]
    held = {(r.account_id, r.role, r.scope, r.scope_id) for r in await collect(target.list_role_assignments())}
    assert ("4", "manager", RoleScope.USER, "3") in held
    assert [r.outcome for r in await target.apply([assign])] == ["already"]
    assert [r.outcome for r in await target.apply([revoke])] == ["done"]
    assert fake.roles_of(4) == {("editingteacher", "course", 2)}
    assert [r.outcome for r in await target.apply([revoke])] == ["already"]
    [call] = fake.called("core_role_unassign_roles")
    assert call == {"unassignments": [{"roleid": 9, "userid": 4, "contextlevel": "user", "instanceid": 3}]}


async def test_without_a_mirror_field_user_roles_are_applied_but_not_listed(
    fake: FakeMoodle, config: MoodleConfig
) -> None:
    plain = config.model_copy(update={"role_mirror_field": None})
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    async with build_client(plain, transport=fake.transport()) as http:
        target = MoodleTarget(plain, http)
        outcomes = [r.outcome for r in await target.apply([assign, assign])]
        held = await collect(target.list_role_assignments())
    assert outcomes == ["done", "done"]  # role_assign() is idempotent: no duplicate, but no way to say `already`
    assert ("parent", "user", 3) in fake.roles_of(4)
    assert all(r.scope is RoleScope.COURSE for r in held)


async def test_system_and_course_roles(target: MoodleTarget, fake: FakeMoodle) -> None:
    ops: list[Op] = [
        AssignRole(hr_id="E1001", account_id="3", role="manager"),
        AssignRole(hr_id="E1001", account_id="3", role="instructor", scope=RoleScope.COURSE, scope_id="2"),
        AssignRole(hr_id="E1001", account_id="3", role="learner"),  # students exist only in courses
    ]
    results = await target.apply(ops)
    assert [r.outcome for r in results] == ["done", "done", "failed"]
    assert results[2].error is not None and results[2].error.code == "invalidparameter"
    assert {("manager", "system", 0), ("editingteacher", "course", 2)} <= fake.roles_of(3)
    assert [r.outcome for r in await target.apply(ops[:2])] == ["already", "already"]
    held = {(r.account_id, r.role, r.scope.value, r.scope_id) for r in await collect(target.list_role_assignments())}
    assert {("3", "manager", "system", None), ("3", "instructor", "course", "2")} <= held


async def test_a_role_whose_record_cannot_be_saved_is_not_assigned(target: MoodleTarget, fake: FakeMoodle) -> None:
    over_guest = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="1")
    [result] = await target.apply([over_guest])
    # Moodle refuses to update the guest account, which would hold the record: the role is never assigned, so no
    # role is held that no record shows.
    assert result.outcome == "failed" and result.error is not None and MIRROR_FIELD in result.error.reason
    assert ("parent", "user", 1) not in fake.roles_of(4)
    assert fake.called("core_role_assign_roles") == []


def records(request: httpx.Request) -> bool:
    return b"customfields" in request.content


def settling(request: httpx.Request) -> bool:
    """A mirror write that records something as held or gone (not an intent)."""
    return records(request) and b"pending" not in request.content


async def test_a_role_whose_record_is_not_settled_stays_pending_and_is_settled_later(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    fake.fail_next(1, status=500, when=settling)

    [result] = await target.apply([assign])

    assert result.outcome == "done" and ("parent", "user", 3) in fake.roles_of(4)
    assert fake.user("alex.example").custom[MIRROR_FIELD] == "pending:parent@4"  # type: ignore[union-attr]
    [listed] = [r for r in await collect(target.list_role_assignments()) if r.scope is RoleScope.USER]
    assert (listed.account_id, listed.scope_id, listed.confirmed) == ("4", "3", False)
    # Asked again, a pending record is not `already`: the role is assigned again (a no-op) and the record settled.
    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert fake.user("alex.example").custom[MIRROR_FIELD] == "parent@4"  # type: ignore[union-attr]
    assert [r.outcome for r in await target.apply([assign])] == ["already"]


async def test_a_pending_record_is_revoked_whether_or_not_the_role_is_held(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    revoke = RevokeRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    fake.state.users[3].custom[MIRROR_FIELD] = "pending:parent@4"  # an intent whose assignment never landed

    assert [r.outcome for r in await target.apply([revoke])] == ["done"]  # unassigning a role not held is harmless

    assert len(fake.called("core_role_unassign_roles")) == 1
    assert fake.state.users[3].custom[MIRROR_FIELD] == ""
    assert [r.outcome for r in await target.apply([revoke])] == ["already"]


async def test_a_revocation_whose_record_is_not_settled_leaves_it_pending(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    revoke = RevokeRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    await target.apply([assign])
    fake.fail_next(1, status=500, when=settling)

    assert [r.outcome for r in await target.apply([revoke])] == ["done"]

    assert ("parent", "user", 3) not in fake.roles_of(4)
    # Never "held" for a role that is not: the record says it may be, so a later grant assigns it again.
    assert fake.state.users[3].custom[MIRROR_FIELD] == "pending:parent@4"
    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert ("parent", "user", 3) in fake.roles_of(4)


async def test_an_intent_that_cannot_be_recorded_changes_nothing(target: MoodleTarget, fake: FakeMoodle) -> None:
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    fake.fail_next(1, status=503, when=records)

    [result] = await target.apply([assign])

    assert result.outcome == "retry" and fake.called("core_role_assign_roles") == []
    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert ("parent", "user", 3) in fake.roles_of(4)


async def test_lists_show_what_ops_did(target: MoodleTarget) -> None:
    await target.apply([Enrol(hr_id="K", account_id="5", course_id="3")])
    enrolments = {(e.account_id, e.course_id) for e in await collect(target.list_enrolments())}
    assert enrolments == {("3", "2"), ("5", "3")}
