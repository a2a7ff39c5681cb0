"""The in-memory systems the memory connectors talk to.

A process-wide registry of named datasets stands in for a remote system: the engine builds connectors from
stored config alone, so the config names the dataset and the dataset lives here. Tests create and drop datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.model import Account, AccountFields, Person, Progress, RoleAssignment


@dataclass
class MemoryHris:
    token: str = "memory-token"  # noqa: S105 - a stand-in system, not a credential
    persons: dict[str, Person] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)
    removed_at: dict[str, int] = field(default_factory=dict)
    clock: int = 0
    fail_next: list[ConnectorError] = field(default_factory=list)

    def put(self, person: Person) -> None:
        self.clock += 1
        self.persons[person.hr_id] = person
        self.changed_at[person.hr_id] = self.clock
        self.removed_at.pop(person.hr_id, None)

    def remove(self, hr_id: str) -> None:
        self.clock += 1
        self.persons.pop(hr_id, None)
        self.changed_at.pop(hr_id, None)
        self.removed_at[hr_id] = self.clock


@dataclass
class MemoryLms:
    token: str = "memory-token"  # noqa: S105 - a stand-in system, not a credential
    accounts: dict[str, Account] = field(default_factory=dict)
    enrolments: set[tuple[str, str]] = field(default_factory=set)
    started: set[tuple[str, str]] = field(default_factory=set)
    # What learners did in their courses, set by tests as a learner would (absent: by `started` alone).
    progress: dict[tuple[str, str], Progress] = field(default_factory=dict)
    fail_progress: list[ConnectorError] = field(default_factory=list)  # faults for progress reads only
    roles: set[RoleAssignment] = field(default_factory=set)
    groups: set[tuple[str, str]] = field(default_factory=set)
    sso: dict[str, tuple[str, str]] = field(default_factory=dict)
    courses: set[str] = field(default_factory=lambda: {"C1", "C2", "C3"})
    # Course id -> the code admins know it by, so rules can name courses either way.
    course_codes: dict[str, str] = field(
        default_factory=lambda: {"C1": "SAFETY-101", "C2": "ONBOARDING", "C3": "LEADERSHIP-1"}
    )
    next_id: int = 1000
    writes: int = 0  # effects made
    write_calls: int = 0  # apply calls that made at least one effect (a batch request)
    fail_next: list[ConnectorError] = field(default_factory=list)

    def new_account(self, fields: AccountFields, *, active: bool = True) -> Account:
        self.next_id += 1
        account = Account(account_id=str(self.next_id), fields=fields, active=active)
        self.accounts[account.account_id] = account
        return account


@dataclass
class Dataset:
    hris: MemoryHris = field(default_factory=MemoryHris)
    lms: MemoryLms = field(default_factory=MemoryLms)


DATASETS: dict[str, Dataset] = {}


def dataset(name: str) -> Dataset:
    return DATASETS.setdefault(name, Dataset())
