"""The shared generated company (`connectors.testing.company`) as a Workday tenant holds it: effective-dated.

Each employee is a worker (`Employee_ID` = the company's hr id, a WID derived from it) whose record is a list of
business-process events, each with the date it takes effect and the moment it was entered (Workday's effective and
entry moments). A worker's data as of a date and an entry moment is every event effective by then and entered by
then, applied in order. So a termination entered today for next week shows only from next week; a future-dated hire
is no worker yet as of today; and the transaction log answers "entered between" and "effective between" questions
as Workday's `Transaction_Log_Criteria_Data` does. A rescinded hire is gone from every answer.

A termination's `Termination_Date` is the last day of work; the worker is inactive from the day after.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from enrolsync.connectors.testing.company import Employee

__all__ = ["Event", "WdWorker", "from_employee", "wid"]


def wid(employee_id: str) -> str:
    """A stable 32-hex Workday ID for an employee id (real WIDs are opaque 32-hex strings too)."""
    return hashlib.sha256(f"worker:{employee_id}".encode()).hexdigest()[:32]


@dataclass
class Event:
    """One business process: Hire, Change_Job, Terminate, Leave_of_Absence, Change_Contact_Information, ..."""

    kind: str
    effective: date
    entered: datetime
    changes: dict[str, Any]


@dataclass
class WdWorker:
    employee_id: str
    events: list[Event] = field(default_factory=list)
    rescinded_at: datetime | None = None

    def state(self, as_of: date, entry: datetime) -> dict[str, Any] | None:
        """The worker as of `as_of` (effective moment) seen at `entry` (entry moment); None before the hire."""
        if self.rescinded_at is not None and self.rescinded_at <= entry:
            return None
        seen = sorted(
            (e for e in self.events if e.effective <= as_of and e.entered <= entry),
            key=lambda e: (e.effective, e.entered),
        )
        if not seen or seen[0].kind != "Hire":
            return None
        data: dict[str, Any] = {"employee_id": self.employee_id, "wid": wid(self.employee_id)}
        for event in seen:
            data.update(event.changes)
        return data

    def logged(
        self, entry: datetime, *, updated: tuple[datetime, datetime] | None, effective: tuple[date, date] | None
    ) -> bool:
        """Whether a transaction of this worker was entered in `updated`, or takes effect in `effective` (and was
        entered by `entry`)."""
        for event in self.events:
            if event.entered > entry:
                continue
            if updated is not None and updated[0] < event.entered <= updated[1]:
                return True
            if effective is not None and effective[0] <= event.effective <= effective[1]:
                return True
        return False


def from_employee(employee: Employee, entered: datetime) -> WdWorker:
    """The generated employee as Workday holds them: a hire, then a leave or a termination if any."""
    base = {
        "first_name": employee.first_name, "last_name": employee.last_name, "email": employee.email,
        "username": employee.username, "department": employee.department, "job_title": employee.job_title,
        "location": employee.location, "manager_id": employee.manager_id, "cost_center": employee.cost_center,
        "hire_date": employee.hire_date, "full_time": employee.employment == "full_time", "active": True,
        "terminated": False, "termination_date": None, "on_leave": False, "leave_start": None,
    }  # fmt: skip
    worker = WdWorker(employee.hr_id, [Event("Hire", employee.hire_date, entered, base)])
    if employee.status == "terminated" and employee.termination_date is not None:
        worker.events.append(terminate_event(employee.termination_date, entered))
    elif employee.status == "on_leave":
        began = max(employee.hire_date + timedelta(days=1), entered.date() - timedelta(days=10))
        worker.events.append(Event("Leave_of_Absence", began, entered, {"on_leave": True, "leave_start": began}))
    return worker


def terminate_event(last_day: date, entered: datetime) -> Event:
    changes = {"active": False, "terminated": True, "termination_date": last_day}
    return Event("Terminate", last_day + timedelta(days=1), entered, changes)


def instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
