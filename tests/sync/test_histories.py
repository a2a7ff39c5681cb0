"""Property: for random HR histories (hires, future hires, moves, manager changes, terminations, managers leaving
as their reports move to someone else, records deleted from the HR system and shown again, rehires, leave, days
passing) and hand edits on the LMS, the real run engine leaves the LMS in the desired state on full, incremental and
webhook (person-scoped) runs, and running again plans nothing: a deletion does not flap between kinds of run.

Memory connectors through `steps.execute` on SQLite (an engine property, not a database one); each example is a
fresh pipeline. The expected state comes from the pure rules (`evaluate`), so this checks that reading, matching,
planning, drift repair, applying and the links together realise exactly what the rules say.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.jobs.run_requests import Scope
from enrolsync.sync.rules.evaluate import awaiting_start, desired_state, is_leaver, vanished
from enrolsync.sync.rules.spec import parse_spec
from enrolsync.sync.run import steps
from enrolsync.sync.store.tables import Run, RunStatus
from tests.support.database import Database
from tests.support.harness import Engine, make_engine

pytestmark = pytest.mark.usefixtures("cleanup_datasets")

START = date(2025, 3, 3)
DEPARTMENTS = ("Engineering", "Sales", "Support")
SPEC: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["C1"], "groups": ["all"]},
        {"name": "eng", "when": {"attr": "department", "op": "equals", "value": "Engineering"}, "enrol": ["C2"]},
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["C3"], "roles": ["instructor"]},
        {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"}, "groups": ["sales"]},
    ],
    "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    "policies": {"on_leave": "suspend", "provision_days_before_start": 5},
}
PEOPLE = 6

person_ix = st.integers(0, PEOPLE - 1)
events = st.one_of(
    st.tuples(
        st.just("hire"), person_ix, st.sampled_from(DEPARTMENTS), st.none() | person_ix, st.sampled_from([0, 3, 9])
    ),
    st.tuples(st.just("move"), person_ix, st.sampled_from(DEPARTMENTS)),
    st.tuples(st.just("manager"), person_ix, st.none() | person_ix),
    st.tuples(st.just("terminate"), person_ix),
    st.tuples(st.just("handover"), person_ix, person_ix),  # a manager leaves; their reports move in the same change
    st.tuples(st.just("delete"), person_ix),  # the record is deleted in the HR system
    st.tuples(st.just("restore"), person_ix),  # ... and shown again
    st.tuples(st.just("rehire"), person_ix, st.sampled_from([0, 2, 8])),
    st.tuples(st.just("leave"), person_ix, st.booleans()),
    st.tuples(st.just("days"), st.integers(1, 6)),
    st.tuples(st.just("unenrol_by_hand"), st.integers(0, 50)),
    st.tuples(st.just("reactivate_by_hand"), st.integers(0, 50)),
    st.tuples(st.just("start_course"), st.integers(0, 50)),
)
histories = st.lists(
    st.tuples(st.lists(events, min_size=1, max_size=4), st.sampled_from(["full", "incremental", "people"])), max_size=4
)


@dataclass
class Company:
    """The HR side of a history, written to the memory HR system as it changes."""

    engine: Engine
    today: date = START
    people: dict[str, Person] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # deleted from the HR system (their last record kept here)
    touched: set[str] = field(default_factory=set)  # named by this batch's events: what a webhook would name

    def put(self, hr_id: str, **changes: Any) -> None:
        person = self.people[hr_id].model_copy(update=changes)
        self.people[hr_id] = person
        self.engine.data.hris.put(person)

    def known(self, hr_id: str) -> Person:
        """The person as the rules should see them: a leaver while deleted from the HR system."""
        person = self.people[hr_id]
        return vanished(person) if hr_id in self.gone else person

    def apply(self, event: tuple[Any, ...]) -> None:  # noqa: C901 - one branch per kind of event
        kind, *args = event
        lms = self.engine.data.lms
        if kind == "days":
            self.today += timedelta(days=args[0])
            return
        if kind in ("unenrol_by_hand", "reactivate_by_hand", "start_course"):
            self.hand_edit(kind, args[0])
            return
        hr_id = f"p{args[0]}"
        self.touched.add(hr_id)
        if kind == "restore" and hr_id in self.gone:
            self.gone.discard(hr_id)
            self.engine.data.hris.put(self.people[hr_id])
            return
        if hr_id in self.gone:
            return  # HR changes nothing about a record it deleted
        if kind == "hire":
            if hr_id in self.people:
                return
            manager = f"p{args[2]}" if args[2] is not None and args[2] != args[0] else None
            self.people[hr_id] = Person(
                hr_id=hr_id, given_name="Given", family_name=hr_id.upper(), work_email=f"{hr_id}@example.com",
                department=args[1], manager_hr_id=manager, hire_date=self.today + timedelta(days=args[3]),
            )  # fmt: skip
            self.engine.data.hris.put(self.people[hr_id])
        elif hr_id not in self.people:
            return
        elif kind == "move":
            self.put(hr_id, department=args[1])
        elif kind == "manager":
            self.put(hr_id, manager_hr_id=f"p{args[1]}" if args[1] is not None and args[1] != args[0] else None)
        elif kind == "terminate":
            self.put(hr_id, status=PersonStatus.TERMINATED, termination_date=self.today)
        elif kind == "handover":
            self.handover(hr_id, f"p{args[1]}")
        elif kind == "delete":
            self.gone.add(hr_id)
            self.engine.data.hris.remove(hr_id)
        elif kind == "rehire" and self.people[hr_id].status is PersonStatus.TERMINATED:
            ended = self.people[hr_id].termination_date or self.today
            self.put(
                hr_id,
                status=PersonStatus.ACTIVE,
                hire_date=max(ended + timedelta(days=1), self.today) + timedelta(days=args[1]),
            )
        elif kind == "leave" and self.people[hr_id].status is not PersonStatus.TERMINATED:
            self.put(hr_id, status=PersonStatus.LEAVE if args[1] else PersonStatus.ACTIVE)
        del lms  # only hand edits touch the LMS

    def handover(self, leaver: str, successor: str) -> None:
        """`leaver` is terminated and each of their reports gets `successor` (or no manager) in the same change."""
        self.put(leaver, status=PersonStatus.TERMINATED, termination_date=self.today)
        for report in sorted(self.people):
            if self.people[report].manager_hr_id == leaver and report not in self.gone:
                self.touched.add(report)
                self.put(report, manager_hr_id=successor if successor != report and successor != leaver else None)

    def hand_edit(self, kind: str, pick: int) -> None:
        lms = self.engine.data.lms
        if kind == "reactivate_by_hand":
            inactive = sorted(a for a, account in lms.accounts.items() if not account.active)
            if inactive:
                lms.accounts[inactive[pick % len(inactive)]] = lms.accounts[inactive[pick % len(inactive)]].model_copy(
                    update={"active": True}
                )
            return
        enrolments = sorted(lms.enrolments)
        if enrolments:
            chosen = enrolments[pick % len(enrolments)]
            if kind == "start_course":
                lms.started.add(chosen)
            elif chosen not in lms.started:
                lms.enrolments.discard(chosen)


async def run(engine: Engine, scope: Scope, hr_ids: tuple[str, ...] = ()) -> Run:
    result = await engine.run(scope=scope, hr_ids=hr_ids)
    if result.status == RunStatus.BLOCKED:
        # The deletion guard did its job; the admin approves, as the control plane would let them.
        async with engine.db.sessions() as session:
            row = await session.get(Run, result.id)
            assert row is not None
            row.status, row.approved_by = RunStatus.RUNNING, "property test"
            session.add(row)
            await session.commit()
        assert await steps.guard(engine.rt, result.id)
        await steps.apply(engine.rt, result.id)
        await steps.finish(engine.rt, result.id)
        result = await engine.get_run(result.id)
    assert result.status == RunStatus.SUCCEEDED, (result.status, result.error, result.counters)
    return result


def expected_reports(company: Company, spec: Any) -> dict[str, set[str]]:
    reports: dict[str, set[str]] = {}
    for person in map(company.known, company.people):
        counts = not is_leaver(person, company.today) and not awaiting_start(person, spec.policies, company.today)
        if person.manager_hr_id and counts:
            reports.setdefault(person.manager_hr_id, set()).add(person.hr_id)
    return reports


def check_lms(company: Company) -> None:
    spec, lms = parse_spec(SPEC), company.engine.data.lms
    accounts = {a.fields.external_id: a for a in lms.accounts.values()}
    reports = expected_reports(company, spec)
    for hr_id in company.people:
        person, account = company.known(hr_id), accounts.get(hr_id)
        if hr_id not in company.gone and awaiting_start(person, spec.policies, company.today):
            assert account is None or not account.active, f"{hr_id} is not due yet"
            continue
        wanted = desired_state(person, spec, direct_reports=frozenset(reports.get(hr_id, ())), today=company.today)
        assert wanted is not None
        held = {(r.role, r.scope, r.scope_id) for r in lms.roles if account and r.account_id == account.account_id}
        over = {(g.role, g.scope, accounts[g.scope_hr_id].account_id if g.scope_hr_id else None) for g in wanted.roles}
        if not wanted.active:
            assert account is None or not account.active, f"{hr_id} should be inactive"
            # An inactive account is granted nothing new, and keeps no role its rules no longer give it.
            assert held <= over, f"{hr_id} keeps roles over {held - over}"
            continue
        assert account is not None and account.active and account.fields == wanted.fields, hr_id
        courses = {c for a, c in lms.enrolments if a == account.account_id}
        started = {c for a, c in lms.started if a == account.account_id}
        assert wanted.enrolments <= courses <= wanted.enrolments | started, hr_id
        assert held == over, hr_id
        assert {g for a, g in lms.groups if a == account.account_id} == wanted.groups, hr_id
        assert wanted.sso is not None and lms.sso.get(account.account_id) == (wanted.sso.auth, wanted.sso.subject)


@pytest.fixture
def db_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """SQLite only: the property is about the engine; the scenario and runner tests cover both databases."""
    path = tmp_path / "histories.sqlite"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
async def test_any_history_ends_in_the_desired_state_and_a_rerun_is_a_no_op(
    db: Database, history: list[tuple[list[tuple[Any, ...]], Scope]]
) -> None:
    engine = await make_engine(db, spec=SPEC)
    company = Company(engine)
    engine.rt.today = lambda: company.today
    for batch, scope in history:
        company.touched.clear()
        for event in batch:
            company.apply(event)
        if scope == "people" and company.touched:  # a webhook names the people the change was about
            await run(engine, scope, tuple(sorted(company.touched)))
        else:
            await run(engine, "incremental" if scope == "people" else scope)

    await run(engine, "full")

    check_lms(company)
    assert (await run(engine, "full")).ops_planned == 0
    assert (await run(engine, "incremental")).ops_planned == 0
    everyone = tuple(sorted(company.people))
    if everyone:
        assert (await run(engine, "people", everyone)).ops_planned == 0, "a webhook run undoes nothing"
    assert (await run(engine, "full")).ops_planned == 0
