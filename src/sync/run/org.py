"""One pass over a pipeline's links before planning: who reports to whom, what is linked, and who is due.

"Due" people need planning although the HR system reported no change: a joiner (or rehire) whose lead time has
come (`Policies.provision_days_before_start`) and an active account whose person's termination date has passed. An
incremental run plans them with the people it read, so time-driven changes never wait for a full run.

A person gone from the HR system (`Link.gone_at`) is a leaver here as everywhere (`known_person`): reported to by
nobody, and due while their account is still active, so no run brings a vanished person's account back.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.rules.evaluate import (
    Employment,
    InvalidPerson,
    account_fields,
    awaiting_start,
    is_leaver,
    manager_of,
    vanished,
)
from enrolsync.sync.rules.policy import OnLeavePolicy, Policies
from enrolsync.sync.rules.spec import FieldMapping
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Link


def known_person(link: Link) -> Person | None:
    """The person as the engine knows them: as last read, and a leaver (`evaluate.vanished`) while the HR system
    no longer returns them. None when no readable record is stored."""
    return stored_person(link.person, gone=link.gone_at is not None)


def stored_person(record: dict[str, Any] | None, *, gone: bool) -> Person | None:
    """`known_person` of a stored record (`Link.person`) read without its link."""
    try:
        person = Person.model_validate(record) if record else None
    except ValidationError:
        return None
    return vanished(person) if person is not None and gone else person


@dataclass(frozen=True)
class Dates:
    """A stored person's `evaluate.Employment` and manager, read without validating the whole record."""

    hr_id: str
    manager_hr_id: str | None
    status: PersonStatus
    hire_date: date | None
    termination_date: date | None


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def employment(link: Link) -> Dates | None:
    """The stored person's status and dates, a leaver's while the HR system no longer returns them (as
    `known_person`); None when no readable record is stored. A few microseconds, where `known_person` validates
    every field: planning reads these first, and the whole person only for someone it must evaluate."""
    record = link.person
    if not record or not record.get("hr_id"):
        return None
    try:
        status = PersonStatus(record.get("status", PersonStatus.ACTIVE))
        hired, ended = _day(record.get("hire_date")), _day(record.get("termination_date"))
    except (TypeError, ValueError):
        return None
    manager = record.get("manager_hr_id")
    if manager is not None and not isinstance(manager, str):
        return None
    terminated = PersonStatus.TERMINATED if link.gone_at is not None else status
    return Dates(str(record["hr_id"]), manager, terminated, hired, ended)


def waiting_to_start(link: Link, person: Employment, policies: Policies, today: date) -> bool:
    """`evaluate.awaiting_start` for a person still in the HR system: a vanished future hire waits for nothing."""
    return link.gone_at is None and awaiting_start(person, policies, today)


@dataclass
class Org:
    """What planning needs to know about every person of a pipeline, from the links alone."""

    everyone: set[str] = field(default_factory=set)
    managers: dict[str, str] = field(default_factory=dict)  # report -> manager, for reports the role covers
    due: set[str] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)  # linked account id -> hr_id
    courses: set[str] = field(default_factory=set)  # courses any link's applied state holds
    linked_accounts: int = 0
    active_accounts: int = 0

    def reports(self, gone: set[str]) -> dict[str, set[str]]:
        """Direct reports of each manager, leaving out people gone from the HR system."""
        by_manager: dict[str, set[str]] = defaultdict(set)
        for report, manager in self.managers.items():
            if report not in gone:
                by_manager[manager].add(report)
        return by_manager

    def note(self, link: Link, policies: Policies, today: date, mapping: FieldMapping | None = None) -> None:
        """Take one link into account. With `mapping`, a person without an account whose HR record cannot make
        one (a field the mapping needs is missing) is nobody's report: no manager is granted a role over an
        account that will not exist, which would fail every run until HR fixes the record.

        Held for every person of the pipeline, so each id is one interned string shared by every set and map here
        (and by the read's `seen`), not a copy per structure: the org of 100,000 people stays a few tens of MB."""
        hr_id = sys.intern(link.hr_id)
        self.everyone.add(hr_id)
        active = bool(link.account_id) and bool((link.applied or {}).get("active"))
        if link.account_id:
            self.owners[sys.intern(link.account_id)] = hr_id
            self.linked_accounts += 1
            self.active_accounts += active
            self.courses.update((link.applied or {}).get("enrolments", ()))
        person = employment(link)  # the whole record is validated only for a report without an account
        if person is None:
            return
        leaver, waiting = is_leaver(person, today), waiting_to_start(link, person, policies, today)
        manager = manager_of(person, policies, today)
        if manager is not None and (mapping is None or link.account_id or _can_make_account(link, mapping)):
            self.managers[hr_id] = sys.intern(manager)
        if not waiting and _due(link, person, active, leaver, policies):
            self.due.add(hr_id)
            if person.manager_hr_id:
                self.due.add(sys.intern(person.manager_hr_id))


def covered(link: Link, person: Person, mapping: FieldMapping) -> bool:
    """Whether a manager role can be held over this report: they have an account, or their record can make one."""
    if link.account_id:
        return True
    try:
        account_fields(person, mapping)
    except InvalidPerson:
        return False
    return True


def _can_make_account(link: Link, mapping: FieldMapping) -> bool:
    person = known_person(link)
    return person is not None and covered(link, person, mapping)


def _due(link: Link, person: Employment, active: bool, leaver: bool, policies: Policies) -> bool:
    """Whether the date alone (a start or termination date reached) changed what the person's account should be."""
    suspended = person.status is PersonStatus.LEAVE and policies.on_leave is OnLeavePolicy.SUSPEND
    should_be_active = not leaver and not suspended
    if link.account_id:
        return active != should_be_active
    return should_be_active and not link.last_error


async def link_pages(rt: Runtime, pipeline_id: str) -> AsyncIterator[list[Link]]:
    """A pipeline's links in hr_id order, `rt.chunk` at a time, each page read in a session of its own: a pass over
    every link holds one page of records (and their JSON) at a time, never the whole pipeline's."""
    after: str | None = None
    while True:
        async with rt.sessions() as session:
            page = await repo.list_links(session, pipeline_id=pipeline_id, after=after, limit=rt.chunk)
        yield page
        if len(page) < rt.chunk:
            return
        after = page[-1].hr_id


async def read_org(rt: Runtime, ctx: RunContext) -> Org:
    """Page through the pipeline's links (as the read just left them) once, in hr_id order."""
    org = Org()
    policies, today = ctx.spec.policies, rt.today()
    async for page in link_pages(rt, ctx.pipeline_id):
        for link in page:
            org.note(link, policies, today, ctx.spec.mapping)
    return org
