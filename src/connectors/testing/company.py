"""One generated company for every fake HR system: the same people, whichever vendor's wire format serves them.

Each HR fake turns these `Employee` records into its own vendor's shapes (BambooHR dataset rows, Personio
persons and employments, HiBob people, ...), so tests, the demo and the benchmarks can swap sources and expect
the same people, managers and life events. Deterministic: the same `n`, `seed` and `today` give the same company.

One CEO; a head per department reporting to the CEO; team managers reporting to heads; individual contributors
reporting to managers. Some recent hires, some leavers (terminated), some on leave.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

FIRST_ID = 101
DOMAIN = "acme.example"
TODAY = date(2025, 6, 2)
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

Status = Literal["active", "on_leave", "terminated"]
Employment = Literal["full_time", "part_time"]


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
    ),  # fmt: skip
    Department("Sales", "VP Sales", "Sales Manager", ("Account Executive", "Sales Development Rep")),
    Department("Customer Support", "Head of Support", "Support Team Lead", ("Support Engineer", "Support Specialist")),
    Department("Marketing", "CMO", "Marketing Manager", ("Content Marketer", "Product Marketing Manager")),
    Department("Finance", "CFO", "Finance Manager", ("Accountant", "Financial Analyst")),
    Department("People", "Chief People Officer", "HR Business Partner", ("People Coordinator", "Recruiter")),
    Department("Operations", "COO", "Operations Manager", ("Operations Analyst", "Office Coordinator")),
    Department("Legal", "General Counsel", "Legal Manager", ("Paralegal", "Counsel")),
)
EXECUTIVE = "Executive"  # the CEO's department


@dataclass
class Employee:
    """One person of the generated company, in no vendor's vocabulary (mutable while life events are applied)."""

    hr_id: str
    employee_number: str
    first_name: str
    last_name: str
    email: str
    username: str
    status: Status
    employment: Employment
    department: str
    job_title: str
    location: str
    manager_id: str | None
    hire_date: date
    termination_date: date | None
    cost_center: str


class _Builder:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.people: list[Employee] = []
        self.emails: set[str] = set()

    def add(self, department: Department | None, title: str, manager: str | None, *, role: str) -> Employee:
        hr_id = str(FIRST_ID + len(self.people))
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower()
        n = 1
        while f"{local}@{DOMAIN}" in self.emails:
            n += 1
            local = f"{first}.{last}{n}".lower()
        self.emails.add(f"{local}@{DOMAIN}")
        days = 3000 if role == "ceo" else self.rng.randint(40, 2500)
        part_time = role == "ic" and self.rng.random() >= 0.9
        person = Employee(
            hr_id=hr_id,
            employee_number=f"E{int(hr_id):05d}",
            first_name=first,
            last_name=last,
            email=f"{local}@{DOMAIN}",
            username=local,
            status="active",
            employment="part_time" if part_time else "full_time",
            department=department.name if department else EXECUTIVE,
            job_title=title,
            location="London" if role == "ceo" else self.rng.choice(LOCATIONS),
            manager_id=manager,
            hire_date=self.today - timedelta(days=days),
            termination_date=None,
            cost_center=f"CC-{DEPARTMENTS.index(department) + 1:03d}" if department else "CC-000",
        )
        self.people.append(person)
        return person

    def life_events(self, contributors: list[Employee]) -> None:
        """Leavers, people on leave and recent hires, all individual contributors so nobody reports to a leaver.

        Shares are fixed (6%, 4%, 5%, at least one each once there are a few people), so every company has them.
        """
        count = len(contributors)
        shares = [max(1, round(count * share)) if count >= 6 else 0 for share in (0.06, 0.04, 0.05)]
        chosen = iter(self.rng.sample(contributors, min(count, sum(shares))))
        leavers, on_leave, recent = ([next(chosen) for _ in range(share)] for share in shares)
        for person in leavers:
            ended = person.hire_date + timedelta(days=self.rng.randint(1, (self.today - person.hire_date).days - 1))
            person.status, person.termination_date = "terminated", ended
        for person in on_leave:
            person.status = "on_leave"
        for person in recent:
            person.hire_date = self.today - timedelta(days=self.rng.randint(0, 30))


def generate_people(n: int, seed: int = 0, *, today: date = TODAY) -> list[Employee]:
    """`n` employees (ids from 101), the same for the same `seed` and `today`."""
    if n <= 0:
        return []
    builder = _Builder(seed, today)
    ceo = builder.add(None, "Chief Executive Officer", None, role="ceo").hr_id
    heads: dict[str, str] = {}
    for department in DEPARTMENTS[: min(len(DEPARTMENTS), n - 1)]:
        heads[department.name] = builder.add(department, department.head_title, ceo, role="head").hr_id
    managers: dict[str, list[str]] = {name: [] for name in heads}
    active = [d for d in DEPARTMENTS if d.name in heads]
    contributors: list[Employee] = []
    while len(builder.people) < n:
        department = builder.rng.choice(active)
        team = managers[department.name]
        if not team or builder.rng.random() < 1 / 7:
            manager = builder.add(department, department.manager_title, heads[department.name], role="manager")
            team.append(manager.hr_id)
            continue
        contributors.append(
            builder.add(department, builder.rng.choice(department.titles), builder.rng.choice(team), role="ic")
        )
    builder.life_events(contributors)
    return builder.people
