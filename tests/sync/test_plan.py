"""Plan order (the numbers the planner stores ops under), batching to the target's limits and the deletion guard."""

from __future__ import annotations

import pytest

from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    OP_ADAPTER,
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
from enrolsync.sync.plan.guard import GuardVerdict, check_deactivations
from enrolsync.sync.plan.order import PlanOrder, batches
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


def planned(ops: list[Op], order: PlanOrder | None = None) -> list[Op]:
    """Ops as the executor reads them back: numbered by the planner, then sorted by number (`ORDER BY seq`)."""
    return [op for _, op in sorted((order or PlanOrder()).number(ops))]


def test_accounts_come_first_enrolments_after_roles_groups_and_sso_removals_and_deactivations_last() -> None:
    plan = planned(ONE_OF_EACH)

    assert [op.kind for op in plan] == [
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
    assert sorted(plan, key=lambda op: op.key) == sorted(ONE_OF_EACH, key=lambda op: op.key), "no op lost"


def test_ops_of_one_kind_keep_their_order() -> None:
    ops = [Enrol(hr_id=f"p{n}", course_id="C1") for n in (3, 1, 2)] + [CreateUser(hr_id="p0", fields=FIELDS)]

    plan = planned(ops)

    assert [op.hr_id for op in plan] == ["p0", "p3", "p1", "p2"]


def test_plan_order_holds_across_chunks_of_people() -> None:
    order = PlanOrder()
    early = order.number([Enrol(hr_id="p1", course_id="C1"), DeactivateUser(hr_id="p2", account_id="a2")])
    late = order.number([CreateUser(hr_id="p9", fields=FIELDS), Enrol(hr_id="p9", course_id="C1")])

    by_number = [op for _, op in sorted(early + late)]

    assert [(op.kind, op.hr_id) for op in by_number] == [
        (OpKind.CREATE_USER, "p9"),
        (OpKind.ENROL, "p1"),
        (OpKind.ENROL, "p9"),
        (OpKind.DEACTIVATE_USER, "p2"),
    ]


def test_the_same_effect_planned_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="enrol:p1:C1"):
        planned([Enrol(hr_id="p1", course_id="C1"), Enrol(hr_id="p1", account_id="a1", course_id="C1")])


def test_a_kind_with_more_ops_than_its_band_is_refused_rather_than_misordered() -> None:
    order = PlanOrder(band=3)
    order.number(_enrols(2))

    with pytest.raises(ValueError, match="more than 2 enrol ops"):
        order.number(_enrols(1, start=2))


def test_a_stored_plan_reads_back_exactly() -> None:
    # What the planner stores per op (`RunOp.op`) and what the executor validates back before applying it.
    stored = [op.model_dump(mode="json") for op in planned(ONE_OF_EACH)]

    assert [OP_ADAPTER.validate_python(row) for row in stored] == planned(ONE_OF_EACH)


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
    plan = planned([CreateUser(hr_id="new", fields=FIELDS), *_enrols(5), DeactivateUser(hr_id="x", account_id="ax")])

    cut = batches(plan, limits, kind=_kind)

    assert [len(batch) for batch in cut] == sizes
    assert all(len({op.kind for op in batch}) == 1 for batch in cut)
    assert [op for batch in cut for op in batch] == plan


def test_an_empty_plan_has_no_batch() -> None:
    assert batches([], {OpKind.ENROL: 10}, kind=_kind) == []
    assert batches(planned(_enrols(2)), {OpKind.ENROL: 10}, kind=_kind) == [_enrols(2)]


def _kind(op: Op) -> OpKind:
    return op.kind


def _deactivations(count: int) -> list[str]:
    return [f"p{n:03}" for n in range(count)]


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
    verdict = check_deactivations(
        _deactivations(count), linked_accounts=linked, active_accounts=linked, guard=threshold
    )

    assert (verdict.blocked, verdict.deactivations, verdict.allowed) == (blocked, count, allowed)


def test_a_blocked_verdict_lists_who_would_be_deactivated() -> None:
    # As the planner collects them, person by person: unsorted, a person possibly twice.
    deactivated = ["p002", "p000", "p001", "p000"]

    verdict = check_deactivations(
        deactivated, linked_accounts=10, active_accounts=10, guard=DeactivationGuard(percent=10, min_count=2)
    )

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
