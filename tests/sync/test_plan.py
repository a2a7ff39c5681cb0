"""Plan order, batching to the target's limits and the deactivation guard."""

from __future__ import annotations

import pytest

from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
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
from enrolsync.sync.plan.order import Batch, GuardVerdict, Plan, batches, build_plan, check_deactivations, guard
from enrolsync.sync.rules.policy import DeactivationGuard

FIELDS = AccountFields(username="u", given_name="U", family_name="V", email="u@example.com")

ONE_OF_EACH: list[Op] = [
    DeactivateUser(hr_id="p9", account_id="a9"),
    Enrol(hr_id="p1", course_id="C1"),
    RemoveFromGroup(hr_id="p2", account_id="a2", group_id="g1"),
    RevokeRole(hr_id="p2", account_id="a2", role="admin"),
    Unenrol(hr_id="p2", account_id="a2", course_id="C9"),
    SetSsoIdentity(hr_id="p1", auth="saml2", subject="u"),
    AddToGroup(hr_id="p1", group_id="g1"),
    AssignRole(hr_id="p1", role="manager", scope=RoleScope.USER, scope_hr_id="p2"),
    UpdateUser(hr_id="p2", account_id="a2", fields=FIELDS, changed=("email",)),
    ReactivateUser(hr_id="p3", account_id="a3"),
    CreateUser(hr_id="p1", fields=FIELDS),
]


def test_accounts_come_first_enrolments_after_roles_groups_and_sso_removals_and_deactivations_last() -> None:
    plan = build_plan(ONE_OF_EACH)

    assert [op.kind for op in plan.ops] == [
        OpKind.CREATE_USER,
        OpKind.REACTIVATE_USER,
        OpKind.UPDATE_USER,
        OpKind.ASSIGN_ROLE,
        OpKind.ADD_TO_GROUP,
        OpKind.SET_SSO_IDENTITY,
        OpKind.ENROL,
        OpKind.UNENROL,
        OpKind.REVOKE_ROLE,
        OpKind.REMOVE_FROM_GROUP,
        OpKind.DEACTIVATE_USER,
    ]
    assert plan.counts()[OpKind.ENROL] == 1


def test_ops_of_one_kind_keep_their_order() -> None:
    ops = [Enrol(hr_id=f"p{n}", course_id="C1") for n in (3, 1, 2)] + [CreateUser(hr_id="p0", fields=FIELDS)]

    plan = build_plan(ops)

    assert [op.hr_id for op in plan.ops] == ["p0", "p3", "p1", "p2"]


def test_the_same_effect_planned_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="enrol:p1:C1"):
        build_plan([Enrol(hr_id="p1", course_id="C1"), Enrol(hr_id="p1", account_id="a1", course_id="C1")])


def test_a_stored_plan_reads_back_exactly() -> None:
    plan = build_plan(ONE_OF_EACH)

    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def _enrols(count: int, start: int = 0) -> list[Op]:
    return [Enrol(hr_id=f"p{n}", account_id=f"a{n}", course_id="C1") for n in range(start, start + count)]


@pytest.mark.parametrize(
    ("limits", "sizes"),
    [
        pytest.param({}, [1, 1, 1, 1, 1, 1, 1], id="no-batch-endpoint"),
        pytest.param({OpKind.ENROL: 3}, [1, 3, 2, 1], id="enrol-limit-3"),
        pytest.param({OpKind.ENROL: 100, OpKind.CREATE_USER: 100}, [1, 5, 1], id="all-fit"),
        pytest.param({OpKind.ENROL: 0}, [1, 1, 1, 1, 1, 1, 1], id="zero-means-one"),
    ],
)
def test_batches_cut_runs_of_one_kind_to_the_limit(limits: dict[OpKind, int], sizes: list[int]) -> None:
    plan = build_plan([CreateUser(hr_id="new", fields=FIELDS), *_enrols(5), DeactivateUser(hr_id="x", account_id="ax")])

    cut = batches(plan, limits)

    assert [len(batch.ops) for batch in cut] == sizes
    assert all(len({op.kind for op in batch.ops}) == 1 and batch.kind == batch.ops[0].kind for batch in cut)
    assert [op for batch in cut for op in batch.ops] == list(plan.ops)


def test_an_empty_plan_has_no_batch() -> None:
    assert batches(Plan(), {OpKind.ENROL: 10}) == []
    assert batches(build_plan(_enrols(2)), {OpKind.ENROL: 10}) == [Batch(kind=OpKind.ENROL, ops=tuple(_enrols(2)))]


def _deactivations(count: int) -> Plan:
    return build_plan([DeactivateUser(hr_id=f"p{n:03}", account_id=f"a{n}") for n in range(count)])


GUARD_CASES = [
    pytest.param(1000, 100, DeactivationGuard(), False, 100, id="10%-of-1000-allowed"),
    pytest.param(1000, 101, DeactivationGuard(), True, 100, id="one-over-10%"),
    pytest.param(30, 25, DeactivationGuard(), False, 25, id="small-pipeline-min-count"),
    pytest.param(30, 26, DeactivationGuard(), True, 25, id="over-min-count"),
    pytest.param(30, 3, DeactivationGuard(percent=10, min_count=0), False, 3, id="exact-percent"),
    pytest.param(30, 4, DeactivationGuard(percent=10, min_count=0), True, 3, id="over-exact-percent"),
    pytest.param(0, 1, DeactivationGuard(percent=50, min_count=0), True, 0, id="nothing-linked"),
    pytest.param(500, 0, DeactivationGuard(percent=0, min_count=0), False, 0, id="no-deactivation"),
]


@pytest.mark.parametrize(("linked", "count", "threshold", "blocked", "allowed"), GUARD_CASES)
def test_the_guard_blocks_a_plan_deactivating_more_than_the_threshold(
    linked: int, count: int, threshold: DeactivationGuard, blocked: bool, allowed: int
) -> None:
    verdict = guard(_deactivations(count), linked_accounts=linked, guard=threshold)

    assert (verdict.blocked, verdict.deactivations, verdict.allowed) == (blocked, count, allowed)


def test_a_blocked_verdict_lists_who_would_be_deactivated() -> None:
    plan = build_plan([*_enrols(3), *_deactivations(3).ops])

    verdict = guard(plan, linked_accounts=10, guard=DeactivationGuard(percent=10, min_count=2))

    assert verdict == GuardVerdict(
        blocked=True,
        deactivations=3,
        allowed=2,
        hr_ids=("p000", "p001", "p002"),
        reason="the run would deactivate 3 accounts; the pipeline allows 2 without approval",
    )


EVERYONE_CASES = [
    pytest.param(20, 20, 20, False, True, id="empty-answer-on-a-small-pipeline"),
    pytest.param(50, 20, 20, False, True, id="every-active-account-though-many-left-before"),
    pytest.param(20, 20, 19, False, False, id="all-but-one-within-the-threshold"),
    pytest.param(5, 1, 1, False, False, id="the-only-active-person-leaves"),
    pytest.param(5, 1, 1, True, True, id="the-only-active-person-on-an-empty-answer"),
    pytest.param(5, 0, 0, True, False, id="empty-answer-deactivating-nobody"),
]


@pytest.mark.parametrize(("linked", "active", "count", "empty", "blocked"), EVERYONE_CASES)
def test_an_empty_or_truncated_hr_answer_never_deactivates_everyone(
    linked: int, active: int, count: int, empty: bool, blocked: bool
) -> None:
    verdict = check_deactivations(
        [f"p{n}" for n in range(count)],
        linked_accounts=linked,
        active_accounts=active,
        guard=DeactivationGuard(),
        source_empty=empty,
    )

    assert verdict.blocked is blocked
    assert (verdict.reason is not None) is blocked
