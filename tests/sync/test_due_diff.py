"""Due dates in the plan (issue 16), pure: carried on the enrolment, moved with `SetDueDate`, never cleared, and
absent from the stored state and ops of targets that do not push them (their desired state carries none)."""

from __future__ import annotations

from datetime import date
from functools import reduce
from typing import Any

from enrolsync.connectors.model import AccountFields
from enrolsync.connectors.ops import OP_ADAPTER, Enrol, Op, SetDueDate, Unenrol
from enrolsync.sync.plan.diff import LinkedState, diff, record
from enrolsync.sync.plan.order import PlanOrder
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.policy import Policies

FIELDS = AccountFields(username="jane@example.com", given_name="Jane", family_name="Doe", email="jane@example.com")
MAY, JUNE = date(2026, 5, 1), date(2026, 6, 1)
POLICY = Policies()


def state(*courses: str, **dues: date) -> DesiredState:
    return DesiredState(hr_id="e1", fields=FIELDS, enrolments=frozenset(courses), due_dates=dues)


def plan(desired: DesiredState, applied: DesiredState) -> list[Op]:
    return diff(desired, LinkedState(account_id="a1", applied=applied), policy=POLICY)


def applied_after(applied: DesiredState, ops: list[Op]) -> DesiredState:
    return reduce(record, ops, applied)  # type: ignore[arg-type]


def test_a_new_enrolment_carries_its_due_date() -> None:
    ops = plan(state("SAFETY", "SEC", SAFETY=MAY), state())

    assert ops == [
        Enrol(hr_id="e1", account_id="a1", course_id="SAFETY", due_on=MAY),
        Enrol(hr_id="e1", account_id="a1", course_id="SEC"),
    ]
    assert plan(state("SAFETY", "SEC", SAFETY=MAY), applied_after(state(), ops)) == []


def test_a_moved_due_date_is_one_op_and_applying_it_settles_the_plan() -> None:
    applied = state("SAFETY", SAFETY=MAY)

    ops = plan(state("SAFETY", SAFETY=JUNE), applied)

    assert ops == [SetDueDate(hr_id="e1", account_id="a1", course_id="SAFETY", due_on=JUNE)]
    assert plan(state("SAFETY", SAFETY=JUNE), applied_after(applied, ops)) == []


def test_a_due_date_the_rules_drop_is_left_as_pushed() -> None:
    assert plan(state("SAFETY"), state("SAFETY", SAFETY=MAY)) == []


def test_an_unenrolment_forgets_the_due_date_and_a_re_enrolment_pushes_it_again() -> None:
    applied = applied_after(state("SAFETY", SAFETY=MAY), [Unenrol(hr_id="e1", account_id="a1", course_id="SAFETY")])

    assert applied.due_dates == {}
    assert plan(state("SAFETY", SAFETY=MAY), applied) == [
        Enrol(hr_id="e1", account_id="a1", course_id="SAFETY", due_on=MAY)
    ]


def test_without_due_dates_nothing_new_is_stored_or_planned() -> None:
    """A target without DUE_DATES: its desired states carry no due dates, so links and ops keep their old form."""
    stored: dict[str, Any] = state("SAFETY").model_dump(mode="json")
    [enrol] = plan(state("SAFETY"), state())

    assert "due_dates" not in stored and DesiredState.model_validate(stored) == state("SAFETY")
    assert enrol.model_dump(mode="json") == {
        "hr_id": "e1",
        "account_id": "a1",
        "drift": False,
        "kind": "enrol",
        "course_id": "SAFETY",
    }
    assert state("SAFETY", SAFETY=MAY).model_dump(mode="json")["due_dates"] == {"SAFETY": "2026-05-01"}


def test_due_date_ops_round_trip_and_come_after_enrolments() -> None:
    move = SetDueDate(hr_id="e1", account_id="a1", course_id="SEC", due_on=JUNE)
    enrol = Enrol(hr_id="e1", account_id="a1", course_id="SAFETY", due_on=MAY)

    assert OP_ADAPTER.validate_python(move.model_dump(mode="json")) == move
    assert OP_ADAPTER.validate_python(enrol.model_dump(mode="json")) == enrol
    numbered = sorted(PlanOrder().number([move, enrol]), key=lambda pair: pair[0])
    assert [op for _, op in numbered] == [enrol, move]
