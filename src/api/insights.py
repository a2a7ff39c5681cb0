"""Progress read back from the learning platform, counted for teams and for the whole pipeline (issue 16).

Counts come from the stored progress (`enrolment_progress`, written by full runs): an enrolment is counted once
per person and course. Overdue means not completed and past the due date, judged on the service's clock, so
tests move time by injecting it. A summary counts the pipeline's current people (leavers excluded) in the groups
of one attribute; grouped by manager, a group is exactly the manager's direct team (`evaluate.manager_of`), so a
team's numbers at depth 1 equal its manager's group.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from enrolsync.api.schemas_insights import (
    CompletionPublic,
    CourseSummaryPublic,
    SummaryBy,
    SummaryGroupPublic,
    TeamSummaryPublic,
)
from enrolsync.connectors.model import Person
from enrolsync.sync.rules.due import is_overdue
from enrolsync.sync.rules.evaluate import is_leaver, manager_of
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.store.tables import EnrolmentProgress

NEWEST = 10
STATES = ("not_started", "in_progress", "completed", "failed")


def overdue(row: EnrolmentProgress, today: date) -> bool:
    """Past the due date the rules set and not completed (in time, for recurring training), on `today`."""
    return is_overdue(row.due_on, recurs=row.due_recurs, completed=row.state == "completed", today=today)


@dataclass
class Tally:
    """Enrolments by state, per course, over some people."""

    people: int = 0
    courses: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, rows: Iterable[EnrolmentProgress], today: date) -> None:
        self.people += 1
        for row in rows:
            counts = self.courses.setdefault(row.course_id, dict.fromkeys((*STATES, "overdue"), 0))
            counts[row.state if row.state in STATES else "in_progress"] += 1
            counts["overdue"] += overdue(row, today)

    def course_list(self) -> list[CourseSummaryPublic]:
        listed = []
        for course, counts in sorted(self.courses.items()):
            enrolled = sum(counts[s] for s in STATES)
            rate = round(counts["completed"] / enrolled, 4) if enrolled else None
            listed.append(CourseSummaryPublic(course=course, enrolled=enrolled, completion_rate=rate, **counts))
        return listed

    @property
    def overdue(self) -> int:
        return sum(c["overdue"] for c in self.courses.values())

    @property
    def completion_rate(self) -> float | None:
        enrolled = sum(c[s] for c in self.courses.values() for s in STATES)
        done = sum(c["completed"] for c in self.courses.values())
        return round(done / enrolled, 4) if enrolled else None


def team_summary(
    members: Sequence[tuple[str, str]], progress: dict[str, list[EnrolmentProgress]], today: date
) -> TeamSummaryPublic:
    """`members` are (hr_id, name) of the people listed."""
    tally = Tally()
    done: list[CompletionPublic] = []
    for hr_id, name in members:
        rows = progress.get(hr_id, [])
        tally.add(rows, today)
        done += [
            CompletionPublic(hr_id=hr_id, name=name, course=r.course_id, completed_at=r.completed_at or r.changed_at)
            for r in rows
            if r.state == "completed"
        ]
    done.sort(key=lambda c: (c.completed_at is not None, c.completed_at, c.hr_id), reverse=True)
    return TeamSummaryPublic(
        people=tally.people, courses=tally.course_list(), overdue=tally.overdue, newest_completions=done[:NEWEST]
    )


def group_key(person: Person, by: SummaryBy, policies: Policies, today: date) -> str | None:
    if by == "manager":
        return manager_of(person, policies, today)
    value = person.department if by == "department" else person.location
    return value.strip() if value and value.strip() else None


def summarise(
    people: Iterable[Person],
    progress: dict[str, list[EnrolmentProgress]],
    *,
    by: SummaryBy,
    policies: Policies,
    today: date,
) -> tuple[list[SummaryGroupPublic], SummaryGroupPublic]:
    """The groups (by key, people without one last) and the total; leavers are not counted."""
    groups: dict[str | None, Tally] = {}
    total = Tally()
    for person in people:
        if is_leaver(person, today):
            continue
        rows = progress.get(person.hr_id, [])
        groups.setdefault(group_key(person, by, policies, today), Tally()).add(rows, today)
        total.add(rows, today)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [_group(key, tally) for key, tally in ordered], _group(None, total)


def _group(key: str | None, tally: Tally) -> SummaryGroupPublic:
    return SummaryGroupPublic(
        key=key,
        people=tally.people,
        courses=tally.course_list(),
        overdue=tally.overdue,
        completion_rate=tally.completion_rate,
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text that would start a formula gets a leading quote (OWASP CSV
    injection); numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def wants_csv(request: Request) -> bool:
    """The caller asked for CSV (`Accept: text/csv`) rather than JSON."""
    return "text/csv" in request.headers.get("accept", "").lower()


def csv_response(text: str, filename: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return Response(
        content=text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def to_csv(header: Sequence[str], rows: Iterable[dict[str, Any] | BaseModel]) -> str:
    """Rows as CSV (RFC 4180, a header line first); values missing from a row are empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        values = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
        writer.writerow({k: _cell(values.get(k)) for k in header})
    return out.getvalue()
