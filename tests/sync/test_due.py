"""Due dates (issue 16), pure: hire-relative, fixed and recurring, the earliest of several, and overdue."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from enrolsync.sync.rules.due import Due, add_months, due_date, earliest, is_overdue
from enrolsync.sync.rules.spec import DueDate

HIRED, SEEN = date(2026, 1, 10), date(2026, 2, 1)


@pytest.mark.parametrize(
    ("due", "completed", "expected"),
    [
        (DueDate(days_after_hire=30), None, Due(date(2026, 2, 9))),
        (DueDate(on=date(2026, 6, 30)), None, Due(date(2026, 6, 30))),
        (DueDate(every_months=12), None, Due(date(2027, 2, 1), recurs=True)),  # first due a cycle after enrolment
        (DueDate(every_months=12), date(2026, 3, 15), Due(date(2027, 3, 15), recurs=True)),
        (DueDate(days_after_hire=14, every_months=6), None, Due(date(2026, 1, 24), recurs=True)),
        (DueDate(days_after_hire=14, every_months=6), date(2026, 1, 20), Due(date(2026, 7, 20), recurs=True)),
        (DueDate(days_after_hire=30), date(2026, 1, 20), Due(date(2026, 2, 9))),  # once is enough
    ],
)
def test_due_dates(due: DueDate, completed: date | None, expected: Due) -> None:
    assert due_date(due, hire_date=HIRED, first_seen=SEEN, completed_on=completed) == expected


def test_without_a_hire_date_the_first_sighting_counts() -> None:
    assert due_date(DueDate(days_after_hire=7), hire_date=None, first_seen=SEEN, completed_on=None).on == date(
        2026, 2, 8
    )


def test_months_clamp_to_the_end_of_the_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 12, 31), 14) == date(2029, 2, 28)


def test_several_rules_give_the_earliest_date_and_recur_if_any_does() -> None:
    found = earliest(
        [DueDate(on=date(2026, 5, 1)), DueDate(days_after_hire=10, every_months=12)],
        hire_date=HIRED,
        first_seen=SEEN,
        completed_on=None,
    )
    assert found == Due(date(2026, 1, 20), recurs=True)
    assert earliest([], hire_date=HIRED, first_seen=SEEN, completed_on=None) is None


@pytest.mark.parametrize(
    ("due_on", "recurs", "completed", "today", "overdue"),
    [
        (date(2026, 3, 1), False, False, date(2026, 3, 1), False),  # due today is not yet overdue
        (date(2026, 3, 1), False, False, date(2026, 3, 2), True),
        (date(2026, 3, 1), False, True, date(2026, 9, 1), False),
        (date(2026, 3, 1), True, True, date(2026, 3, 2), True),  # the completion has expired
        (None, False, False, date(2030, 1, 1), False),
    ],
)
def test_overdue(due_on: date | None, recurs: bool, completed: bool, today: date, overdue: bool) -> None:
    assert is_overdue(due_on, recurs=recurs, completed=completed, today=today) is overdue


@pytest.mark.parametrize(
    "document",
    [{}, {"days_after_hire": 3, "on": "2026-01-01"}, {"every_months": 0}, {"days_after_hire": -1}],
)
def test_bad_due_dates_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DueDate.model_validate(document)
