"""Due dates of enrolments (issue 16), pure: which rules set one for a person's course, when it falls, and whether
an enrolment is overdue on a given day. The clock is the caller's (a run's `today`, the API's injected clock).

A course enrolled by several rules is due on the earliest of their dates; it recurs when any of them does. A
recurring enrolment is due again `every_months` after each completion, so a completion that has expired is
overdue although the learning platform still shows it completed.

For targets that hold a due date per enrolment (`Capability.DUE_DATES`), `due_dates_of` gives the dates a
person's desired state carries to the target, from the same inputs the progress read uses, so the date pushed and
the date tracked here agree.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from enrolsync.sync.rules.evaluate import Facts, holds
from enrolsync.sync.rules.spec import DueDate, PipelineSpec


@dataclass(frozen=True)
class Due:
    """When one enrolment is due, and whether it comes round again after each completion."""

    on: date
    recurs: bool = False


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the month's end (31 January + 1 month = 28/29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(due: DueDate, *, hire_date: date | None, first_seen: date, completed_on: date | None) -> Due:
    """When an enrolment under `due` is due. A hire-relative date without a hire date counts from `first_seen`
    (the day enrolsync first saw the enrolment)."""
    recurs = due.every_months is not None
    if due.every_months is not None and completed_on is not None:
        return Due(add_months(completed_on, due.every_months), recurs)
    if due.on is not None:
        return Due(due.on, recurs)
    if due.days_after_hire is not None:
        return Due((hire_date or first_seen) + timedelta(days=due.days_after_hire), recurs)
    # The spec refuses a due date with none of the three, so only `every_months` is left.
    return Due(add_months(first_seen, due.every_months or 0), recurs)


def earliest(dues: list[DueDate], *, hire_date: date | None, first_seen: date, completed_on: date | None) -> Due | None:
    found = [due_date(d, hire_date=hire_date, first_seen=first_seen, completed_on=completed_on) for d in dues]
    if not found:
        return None
    return Due(min(d.on for d in found), any(d.recurs for d in found))


def is_overdue(due_on: date | None, *, recurs: bool, completed: bool, today: date) -> bool:
    """Past its due date and not completed (for recurring training: not completed again in time)."""
    return due_on is not None and due_on < today and (recurs or not completed)


def dues_by_course(spec: PipelineSpec, facts: Facts, resolved: Mapping[str, str]) -> dict[str, list[DueDate]]:
    """The due dates the person's matching rules set, by course id (`resolved` maps course names rules use to the
    ids the run resolved them to; an unresolved name is taken as an id)."""
    found: dict[str, list[DueDate]] = {}
    for rule in spec.rules:
        if rule.due is None or not rule.enrol or not holds(rule.when, facts):
            continue
        for course in rule.enrol:
            found.setdefault(resolved.get(course, course), []).append(rule.due)
    return found


@dataclass(frozen=True)
class Held:
    """What stored progress says of one held enrolment: the day enrolsync first saw it, the last completion."""

    first_seen: date
    completed_on: date | None = None


def due_dates_of(
    spec: PipelineSpec,
    facts: Facts,
    courses: Iterable[str],
    *,
    hire_date: date | None,
    held: Mapping[str, Held],
) -> dict[str, date]:
    """Course id -> due date, for each of `courses` a matching rule sets one for (`spec` with course ids resolved).
    An enrolment not seen yet counts from `facts.today`: it is made today."""
    dues = dues_by_course(spec, facts, {})
    found: dict[str, date] = {}
    for course in courses:
        known = held.get(course, Held(first_seen=facts.today))
        when = earliest(
            dues.get(course, []), hire_date=hire_date, first_seen=known.first_seen, completed_on=known.completed_on
        )
        if when is not None:
            found[course] = when.on
    return found
