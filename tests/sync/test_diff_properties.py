"""Properties of the planner over random desired and applied states (hypothesis).

The central one: applying a plan (folding `record` over its ops in plan order) and planning again yields no op,
so a re-run after a successful run makes zero writes.
"""

from __future__ import annotations

from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import Op, OpKind, RevokeRole
from enrolsync.sync.plan.diff import LinkedState, diff, record
from enrolsync.sync.plan.order import ORDER, PlanOrder
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.policy import LeaverPolicy, OnLeavePolicy, Policies, UnenrolPolicy, UnmatchedPolicy

# Small universes, so random desired and applied states overlap as often as they differ.
GRANTS = [
    RoleGrant(role="learner"),
    RoleGrant(role="admin"),
    RoleGrant(role="instructor", scope=RoleScope.COURSE, scope_id="C1"),
    RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r1"),
    RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r2"),
]
COURSES = ["C1", "C2", "C3", "C4"]
GROUPS = ["g1", "g2", "g3"]
REMOVALS = {OpKind.UNENROL, OpKind.REVOKE_ROLE, OpKind.REMOVE_FROM_GROUP}

fields = st.builds(
    AccountFields,
    username=st.sampled_from(["jane", "jdoe"]),
    given_name=st.sampled_from(["Jane", "J."]),
    family_name=st.just("Doe"),
    email=st.sampled_from(["jane@example.com", "j.doe@example.com"]),
    external_id=st.sampled_from([None, "e1", "E-1"]),
    auth=st.sampled_from([None, "saml2"]),
    department=st.sampled_from([None, "Sales", "R&D"]),
)
states = st.builds(
    DesiredState,
    hr_id=st.just("e1"),
    fields=fields,
    active=st.booleans(),
    enrolments=st.frozensets(st.sampled_from(COURSES)),
    roles=st.frozensets(st.sampled_from(GRANTS)),
    groups=st.frozensets(st.sampled_from(GROUPS)),
    sso=st.none() | st.builds(SsoSpec, auth=st.sampled_from(["saml2", "oidc"]), subject=st.sampled_from(["a", "b"])),
)
links = (
    st.none()
    | st.builds(LinkedState, account_id=st.none(), applied=st.none() | states)
    | st.builds(LinkedState, account_id=st.just("a1"), applied=states)
)
policies = st.builds(
    Policies,
    unmatched=st.sampled_from(UnmatchedPolicy),
    leaver=st.sampled_from(LeaverPolicy),
    on_leave=st.sampled_from(OnLeavePolicy),
    unenrol=st.sampled_from(UnenrolPolicy),
)


def in_plan_order(ops: list[Op]) -> list[Op]:
    """Ops as the executor applies them: numbered by the planner, read back by number."""
    return [op for _, op in sorted(PlanOrder().number(ops))]


@settings(max_examples=400, deadline=None)
@given(desired=st.none() | states, link=links, policy=policies)
def test_applying_a_plan_and_replanning_yields_no_op(
    desired: DesiredState | None, link: LinkedState | None, policy: Policies
) -> None:
    plan = in_plan_order(diff(desired, link, policy=policy))
    start = link.applied if link is not None else None
    if plan and plan[-1].kind is OpKind.DELETE_USER:
        # A deleted account leaves nothing linked (the executor clears the link); it is the plan's last op.
        assert [op.kind for op in plan].count(OpKind.DELETE_USER) == 1
        assert diff(desired, LinkedState(), policy=policy) == []
        return

    applied = reduce(record, plan, start)

    created = any(op.kind is OpKind.CREATE_USER for op in plan)
    account_id = "new" if created else (link.account_id if link is not None else None)
    after = LinkedState(account_id=account_id, applied=applied) if account_id is not None else link
    assert diff(desired, after, policy=policy) == []


@given(desired=states, policy=policies)
def test_identical_desired_and_applied_states_yield_no_op(desired: DesiredState, policy: Policies) -> None:
    assert diff(desired, LinkedState(account_id="a1", applied=desired), policy=policy) == []


@given(desired=st.none() | states, applied=states, policy=policies)
def test_an_inactive_or_vanished_person_loses_access_and_stray_roles_only(
    desired: DesiredState | None, applied: DesiredState, policy: Policies
) -> None:
    ops = diff(desired, LinkedState(account_id="a1", applied=applied), policy=policy)

    if desired is None:
        assert {op.kind for op in ops} <= {OpKind.DEACTIVATE_USER, OpKind.DELETE_USER}
    elif not desired.active:
        # Training records and groups stay; a role the desired state lacks never does.
        assert {op.kind for op in ops} <= {OpKind.DEACTIVATE_USER, OpKind.REVOKE_ROLE}
        revoked = {(op.role, op.scope, op.scope_id, op.scope_hr_id) for op in ops if isinstance(op, RevokeRole)}
        assert revoked == {(g.role, g.scope, g.scope_id, g.scope_hr_id) for g in applied.roles - desired.roles}


@given(desired=st.none() | states, link=links, policy=policies)
def test_a_plan_is_ordered_by_kind_and_loses_no_op(
    desired: DesiredState | None, link: LinkedState | None, policy: Policies
) -> None:
    ops = diff(desired, link, policy=policy)
    plan = in_plan_order(ops)

    assert sorted(plan, key=lambda op: op.key) == sorted(ops, key=lambda op: op.key)
    ranks = [ORDER.index(op.kind) for op in plan]
    assert ranks == sorted(ranks)
    if policy.unenrol is UnenrolPolicy.NEVER:
        assert OpKind.UNENROL not in {op.kind for op in plan}


@given(state=states)
def test_the_applied_state_round_trips_through_json_exactly(state: DesiredState) -> None:
    text = state.model_dump_json()

    assert DesiredState.model_validate_json(text) == state
    assert DesiredState.model_validate_json(text).model_dump_json() == text
