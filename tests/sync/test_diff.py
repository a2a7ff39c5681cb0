"""Desired vs applied state -> ops, and `record`: the applied state after each op."""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

import pytest

from enrolsync.connectors.model import Account, AccountFields, PersonStatus, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    Op,
    OpKind,
    ReactivateUser,
    RemoveFromGroup,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.sync.plan.diff import LinkedState, diff, observed, record
from enrolsync.sync.plan.order import PlanOrder
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.evaluate import desired_state
from enrolsync.sync.rules.policy import Policies
from tests.support.factories import SPEC, TODAY, person, reports_of

FIELDS = AccountFields(username="jane@example.com", given_name="Jane", family_name="Doe", email="jane@example.com")
SSO = SsoSpec(auth="saml2", subject="jane@example.com")
DEFAULT = Policies()


def _state(**changes: Any) -> DesiredState:
    base: dict[str, Any] = {
        "hr_id": "e1",
        "fields": FIELDS,
        "enrolments": frozenset({"SAFETY-101", "MKT-1"}),
        "roles": frozenset({RoleGrant(role="learner")}),
        "groups": frozenset({"marketing"}),
        "sso": SSO,
    }
    return DesiredState(**{**base, **changes})


def _linked(applied: DesiredState) -> LinkedState:
    return LinkedState(account_id="a1", applied=applied)


def _apply(applied: DesiredState | None, ops: list[Op]) -> DesiredState | None:
    return reduce(record, [op for _, op in sorted(PlanOrder().number(ops))], applied)  # in plan order


def test_a_joiner_gets_an_account_and_everything_the_rules_give() -> None:
    desired = _state()

    ops = diff(desired, None, policy=DEFAULT)

    assert ops == [
        CreateUser(hr_id="e1", fields=FIELDS),
        AssignRole(hr_id="e1", role="learner"),
        AddToGroup(hr_id="e1", group_id="marketing"),
        SetSsoIdentity(hr_id="e1", auth="saml2", subject="jane@example.com"),
        Enrol(hr_id="e1", course_id="MKT-1"),
        Enrol(hr_id="e1", course_id="SAFETY-101"),
    ]
    assert all(op.account_id is None for op in ops)
    assert diff(desired, LinkedState(), policy=DEFAULT) == ops


@pytest.mark.parametrize(
    ("desired", "policy"),
    [
        pytest.param(_state(), Policies(unmatched="ignore"), id="unmatched-ignore"),
        pytest.param(_state(active=False), DEFAULT, id="never-provisioned-leaver"),
        pytest.param(None, DEFAULT, id="nobody"),
    ],
)
def test_no_account_is_created(desired: DesiredState | None, policy: Policies) -> None:
    assert diff(desired, None, policy=policy) == []


def test_an_unchanged_person_yields_no_op() -> None:
    assert diff(_state(), _linked(_state()), policy=DEFAULT) == []


def test_a_mover_changing_department_gets_only_the_differences() -> None:
    applied = _state(fields=FIELDS.model_copy(update={"department": "Marketing"}))
    desired = _state(
        fields=FIELDS.model_copy(update={"department": "Engineering", "job_title": "Engineer"}),
        enrolments=frozenset({"SAFETY-101", "SEC-200"}),
        groups=frozenset({"eng"}),
    )

    ops = diff(desired, _linked(applied), policy=DEFAULT)

    assert ops == [
        UpdateUser(hr_id="e1", account_id="a1", fields=desired.fields, changed=("department", "job_title")),
        AddToGroup(hr_id="e1", account_id="a1", group_id="eng"),
        RemoveFromGroup(hr_id="e1", account_id="a1", group_id="marketing"),
        Enrol(hr_id="e1", account_id="a1", course_id="SEC-200"),
        Unenrol(hr_id="e1", account_id="a1", course_id="MKT-1"),
    ]


def test_under_unenrol_never_a_dropped_course_stays() -> None:
    desired = _state(enrolments=frozenset({"SAFETY-101"}))

    ops = diff(desired, _linked(_state()), policy=Policies(unenrol="never"))

    assert ops == []


LEAVERS = [
    pytest.param(_state(active=False), DEFAULT, id="terminated"),
    pytest.param(
        _state(active=False, enrolments=frozenset(), groups=frozenset()), DEFAULT, id="rules-dropped-courses-groups"
    ),
    pytest.param(None, DEFAULT, id="gone-from-hr"),
]


@pytest.mark.parametrize(("desired", "policy"), LEAVERS)
def test_a_leaver_is_deactivated_and_keeps_training_records_roles_and_groups(
    desired: DesiredState | None, policy: Policies
) -> None:
    link = _linked(_state())

    ops = diff(desired, link, policy=policy)

    assert ops == [DeactivateUser(hr_id="e1", account_id="a1")]
    assert diff(desired, _linked(_state(active=False)), policy=policy) == []


def test_under_the_delete_policy_a_leaver_s_account_is_deleted_even_if_already_deactivated() -> None:
    delete = Policies(leaver="delete")

    assert diff(None, _linked(_state()), policy=delete) == [DeleteUser(hr_id="e1", account_id="a1")]
    assert diff(None, _linked(_state(active=False)), policy=delete) == [DeleteUser(hr_id="e1", account_id="a1")]
    assert diff(None, LinkedState(), policy=delete) == [], "nothing linked: nothing to delete, nothing created"


MANAGER_OVER = [RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id=r) for r in ("r1", "r2")]


@pytest.mark.parametrize("still_active", [True, False], ids=["leaving-now", "already-suspended"])
def test_a_leaver_loses_every_role_the_rules_no_longer_give(still_active: bool) -> None:
    """Every difference in role scope is revoked, whatever else happens: a manager who leaves as one of their
    reports moves to someone else keeps no role over that report."""
    applied = _state(active=still_active, roles=frozenset({RoleGrant(role="learner"), *MANAGER_OVER}))
    desired = _state(active=False, roles=frozenset({RoleGrant(role="learner"), MANAGER_OVER[1]}))

    ops = diff(desired, _linked(applied), policy=DEFAULT)

    revoke = RevokeRole(hr_id="e1", account_id="a1", role="manager", scope=RoleScope.USER, scope_hr_id="r1")
    assert ops == [DeactivateUser(hr_id="e1", account_id="a1")] * still_active + [revoke]
    assert diff(desired, _linked(_apply(applied, ops) or applied), policy=DEFAULT) == []


def test_under_leaver_policy_ignore_a_vanished_person_is_left_alone() -> None:
    assert diff(None, _linked(_state()), policy=Policies(leaver="ignore")) == []


def test_a_rehire_is_reactivated_and_brought_up_to_date() -> None:
    applied = _state(active=False, enrolments=frozenset({"SAFETY-101", "OLD-1"}))
    desired = _state(enrolments=frozenset({"SAFETY-101", "NEW-1"}))

    ops = diff(desired, _linked(applied), policy=DEFAULT)

    assert ops == [
        ReactivateUser(hr_id="e1", account_id="a1"),
        Enrol(hr_id="e1", account_id="a1", course_id="NEW-1"),
        Unenrol(hr_id="e1", account_id="a1", course_id="OLD-1"),
    ]


@pytest.mark.parametrize(("policy", "expected"), [("keep_active", []), ("suspend", [OpKind.DEACTIVATE_USER])])
def test_going_on_leave_follows_the_on_leave_policy_and_returning_reactivates(
    policy: str, expected: list[OpKind]
) -> None:
    spec = SPEC.model_copy(update={"policies": Policies(on_leave=policy)})
    working, away = person("e1"), person("e1", status=PersonStatus.LEAVE)
    applied = desired_state(working, spec, direct_reports=frozenset(), today=TODAY)
    assert applied is not None

    on_leave = desired_state(away, spec, direct_reports=frozenset(), today=TODAY)
    leave_ops = diff(on_leave, _linked(applied), policy=spec.policies)
    assert [op.kind for op in leave_ops] == expected

    after_leave = _apply(applied, leave_ops)
    assert after_leave is not None
    back_ops = diff(applied, _linked(after_leave), policy=spec.policies)
    assert [op.kind for op in back_ops] == [OpKind.REACTIVATE_USER] * len(expected)


def test_an_sso_change_sets_the_identity_and_a_removed_mapping_leaves_it() -> None:
    other = SsoSpec(auth="oidc", subject="00u1")

    assert diff(_state(sso=other), _linked(_state()), policy=DEFAULT) == [
        SetSsoIdentity(hr_id="e1", account_id="a1", auth="oidc", subject="00u1")
    ]
    assert diff(_state(sso=None), _linked(_state()), policy=DEFAULT) == []


def test_a_report_moving_to_another_manager_moves_the_scope() -> None:
    staff = [person("m1"), person("m2"), person("r1", manager_hr_id="m1"), person("r2", manager_hr_id="m1")]
    moved = [p.model_copy(update={"manager_hr_id": "m2"}) if p.hr_id == "r2" else p for p in staff]

    def state_of(hr_id: str, people: list[Any]) -> DesiredState:
        someone = next(p for p in people if p.hr_id == hr_id)
        state = desired_state(someone, SPEC, direct_reports=reports_of(hr_id, people), today=TODAY)
        assert state is not None
        return state

    before = {hr_id: state_of(hr_id, staff) for hr_id in ("m1", "m2")}
    ops = [
        op
        for hr_id in ("m1", "m2")
        for op in diff(state_of(hr_id, moved), LinkedState(account_id=hr_id, applied=before[hr_id]), policy=DEFAULT)
    ]

    assert ops == [
        RevokeRole(hr_id="m1", account_id="m1", role="manager", scope=RoleScope.USER, scope_hr_id="r2"),
        AssignRole(hr_id="m2", account_id="m2", role="manager", scope=RoleScope.USER, scope_hr_id="r2"),
        Enrol(hr_id="m2", account_id="m2", course_id="LEAD-1"),  # m2 is a manager now
    ]


def test_an_account_matched_but_never_written_to_starts_from_what_the_target_showed() -> None:
    account = Account(account_id="a9", fields=FIELDS, active=False)

    ops = diff(_state(), LinkedState(account_id="a9", applied=observed("e1", account)), policy=DEFAULT)

    assert [op.kind for op in ops][:1] == [OpKind.REACTIVATE_USER]
    assert {op.kind for op in ops} - {OpKind.REACTIVATE_USER} == {
        OpKind.ASSIGN_ROLE,
        OpKind.ADD_TO_GROUP,
        OpKind.SET_SSO_IDENTITY,
        OpKind.ENROL,
    }
    with pytest.raises(ValueError, match="applied state"):
        LinkedState(account_id="a9")


def test_states_of_different_people_are_not_diffed() -> None:
    with pytest.raises(ValueError, match="e2"):
        diff(_state(hr_id="e2"), _linked(_state()), policy=DEFAULT)


def test_record_builds_the_applied_state_op_by_op() -> None:
    created = record(None, CreateUser(hr_id="e1", fields=FIELDS))
    assert created == DesiredState(hr_id="e1", fields=FIELDS)

    grant = AssignRole(hr_id="e1", role="manager", scope=RoleScope.USER, scope_id="acct-r1", scope_hr_id="r1")
    state = record(record(created, grant), Enrol(hr_id="e1", course_id="C1"))
    # The executor fills the report's account id in; the applied state keeps the grant by hr_id.
    assert state.roles == {RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r1")}
    assert state.enrolments == {"C1"}
    assert record(state, RevokeRole(hr_id="e1", role="manager", scope=RoleScope.USER, scope_hr_id="r1")).roles == set()


def test_record_refuses_an_op_without_a_state_to_apply_it_to() -> None:
    with pytest.raises(ValueError, match="before the account's state is known"):
        record(None, Enrol(hr_id="e1", course_id="C1"))
    with pytest.raises(ValueError, match="e2"):
        record(_state(), Enrol(hr_id="e2", course_id="C1"))


def test_applying_a_plan_and_replanning_yields_no_op() -> None:
    applied = _state(active=False, enrolments=frozenset({"OLD"}), groups=frozenset({"g"}), sso=None)
    desired = _state(fields=FIELDS.model_copy(update={"location": "Leeds"}))

    after = _apply(applied, diff(desired, _linked(applied), policy=DEFAULT))

    assert after == desired
    assert diff(desired, _linked(after), policy=DEFAULT) == []


def test_the_applied_state_round_trips_through_json_exactly_and_stably() -> None:
    state = _state(
        roles=frozenset(
            {
                RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r2"),
                RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r1"),
                RoleGrant(role="instructor", scope=RoleScope.COURSE, scope_id="C1"),
            }
        )
    )

    stored = json.loads(json.dumps(state.model_dump(mode="json")))

    assert DesiredState.model_validate(stored) == state
    assert stored["enrolments"] == ["MKT-1", "SAFETY-101"]
    assert [g.get("scope_hr_id") or g.get("scope_id") for g in stored["roles"]] == ["C1", "r1", "r2"]


@pytest.mark.parametrize(
    "grant",
    [
        {"role": "admin", "scope": "system", "scope_id": "x"},
        {"role": "instructor", "scope": "course"},
        {"role": "manager", "scope": "user", "scope_id": "acct-1"},
    ],
)
def test_a_role_grant_must_name_the_scope_it_is_held_in(grant: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="scope"):
        RoleGrant.model_validate(grant)
