"""Drift (pure): rebasing a link's applied state on what the target shows, and which ops are repairs."""

from __future__ import annotations

from typing import Any

import pytest

from enrolsync.connectors.model import Account, AccountFields, RoleAssignment, RoleScope
from enrolsync.connectors.ops import Enrol, Op, Unenrol
from enrolsync.sync.plan.diff import LinkedState, diff, keep_started
from enrolsync.sync.plan.drift import ManagedRoles, ObservedAccount, grant_of, mark_drift, rebase, without_scope_over
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.policy import Policies

FIELDS = AccountFields(
    username="jane@example.com",
    given_name="Jane",
    family_name="Doe",
    email="jane@example.com",
    external_id="e1",
    auth="saml2",
    department="Sales",
    job_title="Rep",
)
SSO = SsoSpec(auth="saml2", subject="jane@example.com")
APPLIED = DesiredState(hr_id="e1", fields=FIELDS, enrolments=frozenset({"C1", "C2"}), groups=frozenset({"g"}), sso=SSO)


def seen(**changes: Any) -> ObservedAccount:
    """The target showing exactly what was applied, with `changes`."""
    fields = changes.pop("fields", {})
    base: dict[str, Any] = {
        "account": Account(
            account_id="a1", fields=FIELDS.model_copy(update=fields), active=changes.pop("active", True)
        ),
        "enrolments": {"C1": False, "C2": False},
        "groups": frozenset({"g"}),
        "sso": SSO,
        "sso_listed": True,
    }
    return ObservedAccount(**{**base, **changes})


def repairs(observed: ObservedAccount, desired: DesiredState = APPLIED) -> list[tuple[str, bool, str]]:
    link = LinkedState(account_id="a1", applied=APPLIED)
    real = LinkedState(account_id="a1", applied=rebase(APPLIED, desired, observed))
    ops = mark_drift(diff(desired, link, policy=Policies()), diff(desired, real, policy=Policies()))
    return [(op.kind.value, op.drift, getattr(op, "course_id", "")) for op in ops]


CASES = [
    pytest.param(seen(), [], id="nothing-changed"),
    pytest.param(seen(enrolments={"C1": False}), [("enrol", True, "C2")], id="enrolment-removed"),
    pytest.param(seen(active=False), [("reactivate_user", True, "")], id="suspended-by-hand"),
    pytest.param(seen(fields={"department": "Ops"}), [("update_user", True, "")], id="field-edited"),
    pytest.param(seen(fields={"email": "JANE@example.com "}), [], id="email-case-is-not-drift"),
    pytest.param(seen(fields={"job_title": None}), [], id="a-field-the-target-does-not-keep"),
    pytest.param(seen(sso=None), [("set_sso_identity", True, "")], id="sso-removed"),
    pytest.param(seen(sso=SsoSpec(auth="saml2", subject="JANE@example.com")), [], id="sso-subject-case"),
    pytest.param(seen(sso=None, sso_listed=False), [], id="sso-not-listed"),
    pytest.param(seen(enrolments=None, groups=None), [], id="target-lists-neither"),
    pytest.param(seen(groups=frozenset()), [("add_to_group", True, "")], id="group-left"),
    pytest.param(seen(enrolments={"C1": False, "C2": False, "C9": True}), [], id="hand-made-enrolment-is-not-ours"),
]


@pytest.mark.parametrize(("observed", "expected"), CASES)
def test_a_change_made_on_the_target_is_repaired_as_drift(
    observed: ObservedAccount, expected: list[tuple[str, bool, str]]
) -> None:
    assert repairs(observed) == expected


def test_a_reactivated_leaver_is_deactivated_again() -> None:
    leaver = APPLIED.model_copy(update={"active": False})
    link = LinkedState(account_id="a1", applied=leaver)
    real = LinkedState(account_id="a1", applied=rebase(leaver, leaver, seen()))

    ops = mark_drift(diff(leaver, link, policy=Policies()), diff(leaver, real, policy=Policies()))

    assert [(op.kind.value, op.drift) for op in ops] == [("deactivate_user", True)]


def test_an_op_the_links_also_plan_is_not_drift_but_extra_fields_are() -> None:
    moved = APPLIED.model_copy(update={"fields": FIELDS.model_copy(update={"department": "Ops"})})

    assert repairs(seen(), moved) == [("update_user", False, "")]
    assert repairs(seen(fields={"given_name": "J."}), moved) == [("update_user", True, "")]


def test_a_started_enrolment_is_kept_back_from_the_plan() -> None:
    ops: list[Op] = [
        Unenrol(hr_id="e1", account_id="a1", course_id="C1"),
        Unenrol(hr_id="e1", account_id="a1", course_id="C2"),
        Enrol(hr_id="e1", account_id="a1", course_id="C3"),
    ]

    planned, kept = keep_started(ops, {("a1", "C2"), ("a2", "C1")})

    assert [op.key for op in planned] == ["unenrol:e1:C1", "enrol:e1:C3"]
    assert [op.course_id for op in kept] == ["C2"]


def test_roles_over_a_replaced_account_are_dropped_so_they_are_granted_again() -> None:
    over = {r: RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id=r) for r in ("r1", "r2")}
    applied = APPLIED.model_copy(update={"roles": frozenset({RoleGrant(role="learner"), *over.values()})})

    rebased = without_scope_over(applied, {"r1"})

    assert rebased.roles == frozenset({RoleGrant(role="learner"), over["r2"]})
    assert without_scope_over(applied, set()) is applied
    ops = diff(applied, LinkedState(account_id="a1", applied=rebased), policy=Policies())
    assert [(op.kind, getattr(op, "scope_hr_id", None)) for op in ops] == [("assign_role", "r1")]


# -- roles, where the target lists them (ROLES_LISTED) --------------------------------------------------------------
OVER_R = RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r1")
OVER_S = RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="s1")
INSTRUCTOR = RoleGrant(role="instructor")
RULES_GIVE = ManagedRoles(system=frozenset({"instructor"}), manager_role="manager")
EVERY_SCOPE = frozenset(RoleScope)


def role_repairs(
    roles: frozenset[RoleGrant],
    *,
    unsure: frozenset[RoleGrant] = frozenset(),
    scopes: frozenset[RoleScope] = EVERY_SCOPE,
    wanted: frozenset[RoleGrant] = frozenset({OVER_R, INSTRUCTOR}),
) -> list[tuple[str, bool, str]]:
    """The role ops a full run plans when the link says `wanted` was applied and the target lists `roles`."""
    applied = APPLIED.model_copy(update={"roles": wanted})
    observed = seen(roles=roles, unsure_roles=unsure, role_scopes=scopes)
    link = LinkedState(account_id="a1", applied=applied)
    real = LinkedState(account_id="a1", applied=rebase(applied, applied, observed, RULES_GIVE))
    ops = mark_drift(diff(applied, link, policy=Policies()), diff(applied, real, policy=Policies()))
    return [(op.kind.value, op.drift, f"{op.role}:{op.scope_hr_id or ''}") for op in ops if hasattr(op, "role")]


ROLE_CASES = [
    pytest.param(frozenset({OVER_R, INSTRUCTOR}), {}, [], id="as-applied"),
    pytest.param(frozenset({INSTRUCTOR}), {}, [("assign_role", True, "manager:r1")], id="removed-by-hand"),
    pytest.param(
        frozenset({OVER_R, OVER_S, INSTRUCTOR}), {}, [("revoke_role", True, "manager:s1")], id="managed-added-by-hand"
    ),
    pytest.param(
        frozenset({OVER_R, INSTRUCTOR, RoleGrant(role="admin")}), {}, [], id="unmanaged-role-added-by-hand-stays"
    ),
    pytest.param(
        frozenset({OVER_R, INSTRUCTOR, RoleGrant(role="instructor", scope=RoleScope.COURSE, scope_id="C9")}),
        {},
        [],
        id="course-role-no-rule-gives-stays",
    ),
    pytest.param(frozenset({INSTRUCTOR}), {"scopes": frozenset({RoleScope.SYSTEM})}, [], id="user-scope-not-listed"),
    pytest.param(
        frozenset({INSTRUCTOR}),
        {"unsure": frozenset({OVER_R})},
        [("assign_role", True, "manager:r1")],
        id="unsure-wanted",
    ),
    pytest.param(
        frozenset({OVER_R, INSTRUCTOR}),
        {"unsure": frozenset({OVER_S})},
        [("revoke_role", True, "manager:s1")],
        id="unsure-unwanted",
    ),
    # Listed exactly as applied, but not all to be taken as such (the fast path in `_roles` must not apply).
    pytest.param(
        frozenset({OVER_R, INSTRUCTOR}),
        {"unsure": frozenset({OVER_R})},
        [("assign_role", True, "manager:r1")],
        id="as-applied-but-one-unsure",
    ),
    pytest.param(
        frozenset({OVER_R, INSTRUCTOR}), {"scopes": frozenset({RoleScope.SYSTEM})}, [], id="as-applied-scope-unlisted"
    ),
]


@pytest.mark.parametrize(("roles", "options", "expected"), ROLE_CASES)
def test_roles_the_target_lists_are_repaired_as_drift(
    roles: frozenset[RoleGrant], options: dict[str, Any], expected: list[tuple[str, bool, str]]
) -> None:
    assert role_repairs(roles, **options) == expected


def test_without_a_role_listing_roles_are_trusted_to_the_link() -> None:
    applied = APPLIED.model_copy(update={"roles": frozenset({OVER_R})})
    assert rebase(applied, applied, seen(), RULES_GIVE).roles == frozenset({OVER_R})


def test_a_listed_role_over_an_account_the_pipeline_does_not_link_is_not_compared() -> None:
    over = RoleAssignment(account_id="a1", role="manager", scope=RoleScope.USER, scope_id="acct-9")
    assert grant_of(over, {"acct-1": "r1"}) is None
    assert grant_of(over.model_copy(update={"scope_id": "acct-1"}), {"acct-1": "r1"}) == OVER_R


def test_an_account_as_applied_rebases_to_the_applied_state_itself() -> None:
    # Planning passes over such a person by identity (`real is state.applied`): no copy, no comparison.
    applied = APPLIED.model_copy(update={"roles": frozenset({OVER_R, INSTRUCTOR})})
    observed = seen(roles=frozenset({OVER_R, INSTRUCTOR}), role_scopes=EVERY_SCOPE)
    assert rebase(applied, applied, observed, RULES_GIVE) is applied
    edited = seen(roles=frozenset({OVER_R, INSTRUCTOR}), role_scopes=EVERY_SCOPE, fields={"family_name": "Roe"})
    assert rebase(applied, applied, edited, RULES_GIVE).fields.family_name == "Roe"
