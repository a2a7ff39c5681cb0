"""A deterministic, realistic BambooHR company of any size: rows of `employee` dataset fields.

One CEO; a head per department reporting to the CEO; team managers reporting to heads; individual contributors
reporting to managers. Some recent hires, some leavers (Inactive, terminated), some on leave.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

Row = dict[str, str | None]

FIRST_ID = 101
FIELDS = frozenset(
    {
        "eeid", "employeeNumber", "firstName", "lastName", "email", "status", "employmentStatus",
        "jobInformationDepartment", "jobInformationJobTitle", "jobInformationLocation", "supervisorEid",
        "hireDate", "terminationDate", "customUsername", "customCostCenter",
    }
)  # fmt: skip
"""The `employee` dataset fields this fake company has (a real account lists its own)."""
OPTION_FIELDS = frozenset(
    {"status", "employmentStatus", "jobInformationDepartment", "jobInformationJobTitle", "jobInformationLocation"}
)
"""List-type fields: the only ones where a multi-value `in` filter is accepted."""
DOMAIN = "acme.example"
LOCATIONS = ("London", "New York", "Berlin", "Sydney", "Remote - US", "Remote - EU")
FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Isla", "Jonas", "Kira", "Liam", "Maya",
    "Noah", "Olivia", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Xavier", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Brennan", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jansen", "Khan",
    "Larsen", "Moreau", "Nguyen", "Okafor", "Patel", "Quintero", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga",
    "Walsh", "Young", "Zimmermann",
)  # fmt: skip


@dataclass(frozen=True)
class Department:
    name: str
    head_title: str
    manager_title: str
    titles: tuple[str, ...]


DEPARTMENTS = (
    Department(
        "Engineering",
        "VP Engineering",
        "Engineering Manager",
        ("Software Engineer", "Senior Software Engineer", "QA Analyst"),
    ),  # noqa: E501
    Department("Sales", "VP Sales", "Sales Manager", ("Account Executive", "Sales Development Rep")),
    Department("Customer Support", "Head of Support", "Support Team Lead", ("Support Engineer", "Support Specialist")),
    Department("Marketing", "CMO", "Marketing Manager", ("Content Marketer", "Product Marketing Manager")),
    Department("Finance", "CFO", "Finance Manager", ("Accountant", "Financial Analyst")),
    Department("People", "Chief People Officer", "HR Business Partner", ("People Coordinator", "Recruiter")),
    Department("Operations", "COO", "Operations Manager", ("Operations Analyst", "Office Coordinator")),
    Department("Legal", "General Counsel", "Legal Manager", ("Paralegal", "Counsel")),
)


class _Builder:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.rows: list[Row] = []
        self.emails: set[str] = set()

    def add(self, department: Department | None, title: str, manager: str | None, *, role: str) -> Row:
        hr_id = str(FIRST_ID + len(self.rows))
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower()
        n = 1
        while f"{local}@{DOMAIN}" in self.emails:
            n += 1
            local = f"{first}.{last}{n}".lower()
        self.emails.add(f"{local}@{DOMAIN}")
        days = 3000 if role == "ceo" else self.rng.randint(40, 2500)
        row: Row = {
            "eeid": hr_id,
            "employeeNumber": f"E{int(hr_id):05d}",
            "firstName": first,
            "lastName": last,
            "email": f"{local}@{DOMAIN}",
            "status": "Active",
            "employmentStatus": "Full-Time" if role != "ic" or self.rng.random() < 0.9 else "Part-Time",
            "jobInformationDepartment": department.name if department else "Executive",
            "jobInformationJobTitle": title,
            "jobInformationLocation": "London" if role == "ceo" else self.rng.choice(LOCATIONS),
            "supervisorEid": manager,
            "hireDate": (self.today - timedelta(days=days)).isoformat(),
            "terminationDate": None,
            "customUsername": local,
            "customCostCenter": f"CC-{DEPARTMENTS.index(department) + 1:03d}" if department else "CC-000",
        }
        self.rows.append(row)
        return row

    def life_events(self, contributors: list[Row]) -> None:
        """Leavers, people on leave and recent hires, all individual contributors so nobody reports to a leaver.

        Shares are fixed (6%, 4%, 5%, at least one each once there are a few people), so every company has them.
        """
        count = len(contributors)
        shares = [max(1, round(count * share)) if count >= 6 else 0 for share in (0.06, 0.04, 0.05)]
        chosen = iter(self.rng.sample(contributors, min(count, sum(shares))))
        leavers, on_leave, recent = ([next(chosen) for _ in range(share)] for share in shares)
        for row in leavers:
            hired = date.fromisoformat(str(row["hireDate"]))
            ended = hired + timedelta(days=self.rng.randint(1, (self.today - hired).days - 1))
            row.update(status="Inactive", employmentStatus="Terminated", terminationDate=ended.isoformat())
        for row in on_leave:
            row["employmentStatus"] = "Leave of Absence"
        for row in recent:
            row["hireDate"] = (self.today - timedelta(days=self.rng.randint(0, 30))).isoformat()


def generate_company(n: int, seed: int = 0, *, today: date = date(2025, 6, 2)) -> list[Row]:
    """`n` employees (ids from 101), the same for the same `seed` and `today`."""
    if n <= 0:
        return []
    builder = _Builder(seed, today)
    ceo = builder.add(None, "Chief Executive Officer", None, role="ceo")["eeid"]
    heads: dict[str, str | None] = {}
    for department in DEPARTMENTS[: min(len(DEPARTMENTS), n - 1)]:
        heads[department.name] = builder.add(department, department.head_title, ceo, role="head")["eeid"]
    managers: dict[str, list[str | None]] = {name: [] for name in heads}
    active = [d for d in DEPARTMENTS if d.name in heads]
    contributors: list[Row] = []
    while len(builder.rows) < n:
        department = builder.rng.choice(active)
        team = managers[department.name]
        if not team or builder.rng.random() < 1 / 7:
            manager = builder.add(department, department.manager_title, heads[department.name], role="manager")
            team.append(manager["eeid"])
            continue
        contributors.append(
            builder.add(department, builder.rng.choice(department.titles), builder.rng.choice(team), role="ic")
        )
    builder.life_events(contributors)
    return builder.rows
