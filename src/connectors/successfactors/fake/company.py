"""The shared generated company (`connectors.testing.company`) as SuccessFactors Employee Central holds it.

Each employee is a person (`PerPerson`, key `personIdExternal` = the company's hr id) with effective-dated names
(`PerPersonal`), an email (`PerEmail`), a platform user (`User`, key `userId` = the employee number) and one
employment (`EmpEmployment`) whose job history is a list of effective-dated `EmpJob` segments. A leaver's
employment ends on the termination date and a segment with `emplStatus` `T` starts the day after, as EC writes a
termination; someone on leave has a segment with `U` (unpaid leave) from the day the leave began.

`SCHEMA` lists every property this fake serves with its EDM type, and `NAVIGATION` every navigation property with
its target; `tests/connectors/successfactors/test_fake_edmx.py` checks both against SAP's EDMX documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from enrolsync.connectors.testing.company import Employee

__all__ = ["END_OF_TIME", "NAVIGATION", "SCHEMA", "Job", "SfPerson", "from_employee"]

END_OF_TIME = date(9999, 12, 31)
"""The end date EC gives a segment that is still open."""
NO_MANAGER = "NO_MANAGER"
"""EC's `managerId` for someone without a manager."""

S, D, DTO, I64, B = "Edm.String", "Edm.DateTime", "Edm.DateTimeOffset", "Edm.Int64", "Edm.Boolean"
SCHEMA: dict[str, dict[str, str]] = {
    "User": {
        "userId": S, "username": S, "firstName": S, "lastName": S, "email": S, "status": S, "empId": S,
        "department": S, "title": S, "location": S, "hireDate": D, "lastModifiedDateTime": DTO,
    },
    "PerPerson": {"personIdExternal": S, "userId": S, "lastModifiedDateTime": DTO},
    "PerPersonal": {
        "personIdExternal": S, "startDate": D, "endDate": D, "firstName": S, "lastName": S, "preferredName": S,
        "lastModifiedDateTime": DTO,
    },
    "PerEmail": {"personIdExternal": S, "emailType": S, "emailAddress": S, "isPrimary": B, "lastModifiedDateTime": DTO},
    "EmpEmployment": {
        "personIdExternal": S, "userId": S, "startDate": D, "endDate": D, "lastDateWorked": D,
        "lastModifiedDateTime": DTO,
    },
    "EmpJob": {
        "userId": S, "startDate": D, "endDate": D, "seqNumber": I64, "department": S, "jobTitle": S, "location": S,
        "managerId": S, "emplStatus": S, "event": S, "costCenter": S, "lastModifiedDateTime": DTO,
    },
}  # fmt: skip
KEYS: dict[str, tuple[str, ...]] = {
    "User": ("userId",),
    "PerPerson": ("personIdExternal",),
    "PerPersonal": ("personIdExternal", "startDate"),
    "PerEmail": ("emailType", "personIdExternal"),
    "EmpEmployment": ("personIdExternal", "userId"),
    "EmpJob": ("seqNumber", "startDate", "userId"),
}
EFFECTIVE_DATED = frozenset({"PerPersonal", "EmpJob"})
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    # entity -> navigation property -> (target entity, to-many)
    "PerPerson": {"personalInfoNav": ("PerPersonal", True), "emailNav": ("PerEmail", True)},
    "EmpEmployment": {"jobInfoNav": ("EmpJob", True)},
}
BUSINESS_EMAIL = "8448"
"""The picklist option id of the `ecEmailType` option `B` (business) in this fake tenant; ids differ per tenant."""


@dataclass
class Job:
    """One effective-dated `EmpJob` segment."""

    start: date
    end: date
    seq: int
    department: str
    title: str
    location: str
    manager: str  # the manager's userId, or NO_MANAGER
    status: str  # emplStatus: A active, U unpaid leave, T terminated (the standard picklist's external codes)
    event: str
    cost_center: str
    modified: datetime


@dataclass
class SfPerson:
    """Everything EC holds about one person of the fake tenant."""

    person_id: str
    user_id: str
    username: str
    first_name: str
    last_name: str
    email: str
    start: date
    end: date | None
    jobs: list[Job]
    modified: dict[str, datetime] = field(default_factory=dict)  # entity -> lastModifiedDateTime

    def job_on(self, day: date) -> Job | None:
        return next((j for j in self.jobs if j.start <= day <= j.end), None)

    def user_status(self, today: date) -> str:
        """`t` active, `f` inactive: EC deactivates the user the day after the termination date."""
        return "f" if self.end is not None and self.end < today else "t"

    def records(self, today: date) -> dict[str, list[dict[str, Any]]]:
        """This person's rows of each entity, as plain values (dates, datetimes) keyed by EC property names."""
        current = self.job_on(today) or self.jobs[-1]
        personal = {
            "personIdExternal": self.person_id, "startDate": self.start, "endDate": END_OF_TIME,
            "firstName": self.first_name, "lastName": self.last_name, "preferredName": None,
            "lastModifiedDateTime": self.modified["PerPersonal"],
        }  # fmt: skip
        email = {
            "personIdExternal": self.person_id, "emailType": BUSINESS_EMAIL, "emailAddress": self.email,
            "isPrimary": True, "lastModifiedDateTime": self.modified["PerEmail"],
        }  # fmt: skip
        jobs = [
            {
                "userId": self.user_id, "startDate": j.start, "endDate": j.end, "seqNumber": j.seq,
                "department": j.department, "jobTitle": j.title, "location": j.location, "managerId": j.manager,
                "emplStatus": j.status, "event": j.event, "costCenter": j.cost_center,
                "lastModifiedDateTime": j.modified,
            }
            for j in self.jobs
        ]  # fmt: skip
        return {
            "User": [{
                "userId": self.user_id, "username": self.username, "firstName": self.first_name,
                "lastName": self.last_name, "email": self.email, "status": self.user_status(today),
                "empId": self.user_id, "department": current.department, "title": current.title,
                "location": current.location, "hireDate": self.start, "lastModifiedDateTime": self.modified["User"],
            }],
            "PerPerson": [{
                "personIdExternal": self.person_id, "userId": self.user_id,
                "lastModifiedDateTime": self.modified["PerPerson"],
            }],
            "PerPersonal": [personal],
            "PerEmail": [email],
            "EmpEmployment": [{
                "personIdExternal": self.person_id, "userId": self.user_id, "startDate": self.start,
                "endDate": self.end, "lastDateWorked": self.end, "lastModifiedDateTime": self.modified["EmpEmployment"],
            }],
            "EmpJob": jobs,
        }  # fmt: skip


def from_employee(employee: Employee, today: date, modified: datetime) -> SfPerson:
    """The generated employee as EC holds them: a hire segment, then a leave or termination segment if any."""
    manager = f"E{int(employee.manager_id):05d}" if employee.manager_id else NO_MANAGER

    def job(start: date, end: date, seq: int, status: str, event: str) -> Job:
        return Job(
            start, end, seq, employee.department, employee.job_title, employee.location, manager, status, event,
            employee.cost_center, modified,
        )  # fmt: skip

    ended = employee.termination_date if employee.status == "terminated" else None
    jobs = [job(employee.hire_date, ended or END_OF_TIME, 1, "A", "H")]
    if ended is not None:
        jobs.append(job(ended + timedelta(days=1), END_OF_TIME, 1, "T", "26"))
    elif employee.status == "on_leave":
        began = max(employee.hire_date + timedelta(days=1), today - timedelta(days=10))
        jobs[0].end = began - timedelta(days=1)
        jobs.append(job(began, END_OF_TIME, 1, "U", "10"))
    stamps = dict.fromkeys(SCHEMA, modified)
    return SfPerson(
        person_id=employee.hr_id, user_id=employee.employee_number, username=employee.username,
        first_name=employee.first_name, last_name=employee.last_name, email=employee.email,
        start=employee.hire_date, end=ended, jobs=jobs, modified=stamps,
    )  # fmt: skip


def instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
