"""Bad input never crashes a run: hypothesis-generated HR records (missing fields, unicode names, 300-character
titles, duplicate emails, cycles in the manager chain, a manager who does not exist) through the memory source
and through the BambooHR fake's rows. Each bad record is reported on its person (`Link.last_error`) and counted
(`people.invalid`), the rest sync, and no two people ever share an account.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import strategies as st
from sqlmodel import select

from enrolsync.api.deps import Services
from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.kit.webhooks import GENERIC_HEADER, sign_timestamped
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.model import Person
from enrolsync.connectors.registry import Registry
from enrolsync.sync.rules.evaluate import awaiting_start, is_leaver
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.store.tables import Event, RunStatus
from tests.support.chaos import ShakyBambooHR
from tests.support.database import Database
from tests.support.explore import explore
from tests.support.figures import Figures
from tests.support.harness import make_engine
from tests.support.systems import build

EXAMPLES = 20
BAMBOO_EXAMPLES = 8
LIMIT = 255  # the longest profile field value an account takes (`sync.fields.MAX_LENGTH`)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SPEC: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["C1"]},
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["C3"]},
    ],
    "mapping": {"username": "work_email"},
}

names = st.text(max_size=30) | st.text(min_size=300, max_size=300)
titles = st.none() | st.text(max_size=60) | st.just("T" * 300)
departments = st.none() | st.sampled_from(["Engineering", "Sales", " ", "Ünïcødé 部門"]) | st.text(max_size=20)


@dataclass(frozen=True)
class Company:
    people: tuple[Person, ...]

    def expected_invalid(self) -> set[str]:
        """People the mapping cannot make an account for, judged here independently of the engine."""
        bad = set()
        for p in self.people:
            email = (p.work_email or "").strip().lower()
            values = [p.given_name.strip(), p.family_name.strip(), email, (p.job_title or "").strip()]
            values.append((p.department or "").strip())
            if not email or not EMAIL.match(email) or any(len(v) > LIMIT for v in values):
                bad.add(p.hr_id)
        return bad


@st.composite
def companies(draw: st.DrawFn) -> Company:
    n = draw(st.integers(min_value=2, max_value=7))
    ids = [f"E{i}" for i in range(n)]
    people = []
    for i, hr_id in enumerate(ids):
        email = draw(st.sampled_from([f"p{i}@example.com", None, "", "not an email", "shared@example.com"]))
        manager = draw(st.none() | st.sampled_from([*ids, "ghost"]))  # self, a cycle, a missing manager
        people.append(
            Person(
                hr_id=hr_id,
                given_name=draw(names),
                family_name=draw(names),
                work_email=email,
                department=draw(departments),
                job_title=draw(titles),
                manager_hr_id=manager,
            )
        )
    return Company(tuple(people))


pytestmark = pytest.mark.usefixtures("cleanup_datasets")  # forget the memory systems made


async def test_generated_hr_records_never_crash_a_run(db: Database, figures: Figures) -> None:
    tried: Counter[str] = Counter()

    async def check(company: Company) -> None:
        engine = await make_engine(db, spec=SPEC)
        for person in company.people:
            engine.data.hris.put(person)

        run = await engine.run()

        assert not run.error, run.error  # bad records fail alone, never the whole run
        invalid = company.expected_invalid()
        assert run.counters["people"]["invalid"] == len(invalid)
        accounts = Counter(link.account_id for link in [await engine.link(p.hr_id) for p in company.people])
        assert all(n == 1 for account, n in accounts.items() if account), f"two people share an account: {accounts}"
        for person in company.people:
            link = await engine.link(person.hr_id)
            if person.hr_id in invalid:
                assert link.last_error and link.account_id is None, person.hr_id
            elif link.account_id is None:
                assert link.last_error, f"{person.hr_id} was neither synced nor reported"
            else:
                assert "C1" in link.applied["enrolments"] or not (person.department or "").strip()
        tried["records"] += len(company.people)
        tried["invalid"] += len(invalid)
        tried["companies"] += 1

    await explore(companies(), check, examples=EXAMPLES)
    figures.add("bad_input", inputs_tried=tried["records"], invalid_records=tried["invalid"], runs=tried["companies"])


async def test_two_people_with_one_email_never_share_an_account(db: Database) -> None:
    engine = await make_engine(db, spec=SPEC)
    for hr_id in ("A", "B"):
        engine.data.hris.put(Person(hr_id=hr_id, given_name=hr_id, work_email="same@example.com", department="X"))

    run = await engine.run()

    first, second = await engine.link("A"), await engine.link("B")
    assert run.status == RunStatus.PARTIALLY_FAILED
    assert first.account_id is not None and first.last_error is None
    assert second.account_id is None and second.last_error and "linked to person A" in second.last_error
    assert len(engine.data.lms.accounts) == 1


bamboo_rows = st.fixed_dictionaries(
    {
        "firstName": st.none() | names,
        "lastName": st.none() | names,
        "email": st.none() | st.sampled_from(["", "x@acme.example", "broken", "dup@acme.example"]),
        "status": st.sampled_from(["Active", "Inactive", "", "Unknown"]),
        "jobInformationJobTitle": titles,
        "supervisorEid": st.none() | st.sampled_from(["101", "102", "999", "", "abc"]),
        "hireDate": st.none() | st.sampled_from(["2024-01-01", "", "not a date", "2024-02-30"]),
        "terminationDate": st.none() | st.sampled_from(["2020-01-01", "0000-00-00", ""]),
    }
)


async def test_generated_bamboohr_rows_never_crash_a_run(db: Database, figures: Figures) -> None:
    if db.kind != "sqlite":
        pytest.skip("the memory-source test covers both databases; these rows exercise the BambooHR mapping")
    tried: Counter[str] = Counter()

    async def check(rows: list[dict[str, Any]]) -> None:
        hr = ShakyBambooHR([{"eeid": str(101 + i), **row} for i, row in enumerate(rows)])
        systems = await build(db, hr)

        run = await systems.run("full")

        assert not run.error, run.error  # bad rows fail alone, never the whole run
        for hr_id, link in (await systems.links()).items():
            person = Person.model_validate(link.person)
            unmanaged = is_leaver(person, hr.today) or awaiting_start(person, Policies(), hr.today)
            assert link.account_id or link.last_error or unmanaged, f"{hr_id} was neither synced nor reported"
        tried["records"] += len(rows)
        tried["companies"] += 1

    await explore(st.lists(bamboo_rows, min_size=1, max_size=5), check, examples=BAMBOO_EXAMPLES)
    figures.add("bad_input", inputs_tried=tried["records"], runs=tried["companies"])


# -- webhook bodies ------------------------------------------------------------------------------------------

WEBHOOK_SECRET = "reliability-s3cret-webhook-key"
WEBHOOK_EXAMPLES = 60


@pytest.fixture
def registry() -> Registry:
    """The API's connectors for these tests: memory, plus BambooHR for its own webhook scheme."""
    return Registry.from_classes(MemorySource, MemoryTarget, BambooHRSource)


@dataclass(frozen=True)
class Delivery:
    scheme: str  # "generic" or "bamboohr"
    body: bytes
    signed: bool  # signed with the connection's key (else: no, a wrong, or a garbled signature)
    skew: int  # seconds between the signature's timestamp and now
    garble: str | None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
event_items = st.fixed_dictionaries(
    {
        "id": st.text(max_size=12),
        "type": st.sampled_from(["created", "updated", "deleted", "fired"]),
        "hr_id": st.text(max_size=30),
    }
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(event_items, max_size=3).map(lambda items: json.dumps({"events": items}).encode()),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["employee.updated", "employee.created", "x"]), "data": json_values}
    ).map(lambda v: json.dumps(v).encode()),
)
deliveries = st.builds(
    Delivery,
    scheme=st.sampled_from(["generic", "bamboohr"]),
    body=bodies,
    signed=st.booleans(),
    skew=st.sampled_from([0, 0, 10, 100_000]),
    garble=st.none() | st.sampled_from(["", "v1=", "t=1,v1=00", "zz", "t=abc,v1=" + "0" * 64]),
)


def _headers(delivery: Delivery, now: datetime) -> dict[str, str]:
    stamp = int(now.timestamp()) - delivery.skew
    secret = WEBHOOK_SECRET if delivery.signed else "some-other-key"
    if delivery.scheme == "generic":
        signature = sign_timestamped(secret, delivery.body, stamp)
        headers = {GENERIC_HEADER: delivery.garble if delivery.garble is not None else signature}
    else:
        digest = hmac.new(secret.encode(), delivery.body + str(stamp).encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-BambooHR-Signature": delivery.garble if delivery.garble is not None else digest,
            "X-BambooHR-Timestamp": str(stamp),
        }
    return {**headers, "Content-Type": "application/json"}


async def test_fuzzed_webhook_bodies_never_answer_5xx_and_unverified_calls_store_nothing(
    client: httpx.AsyncClient, app: FastAPI, memory: tuple[str, Any], figures: Figures
) -> None:
    name, _ = memory
    generic = (await client.post("/connections", json={
        "name": "hr-generic", "connector": "memory-source",
        "config": {"dataset": name, "webhook_secret": WEBHOOK_SECRET},
    })).json()["id"]  # fmt: skip
    bamboo = (await client.post("/connections", json={
        "name": "hr-bamboohr", "connector": "bamboohr",
        "config": {"company_domain": "acme", "api_key": "reliability-s3cret-api-key",
                   "webhook_private_key": WEBHOOK_SECRET},
    })).json()["id"]  # fmt: skip
    services: Services = app.state.services
    tried: Counter[str] = Counter()

    async def stored() -> int:
        async with services.sessions() as session:
            return len((await session.exec(select(Event))).all())

    async def check(delivery: Delivery) -> None:
        before = await stored()
        connection = generic if delivery.scheme == "generic" else bamboo
        response = await client.post(
            f"/webhooks/{connection}", content=delivery.body, headers=_headers(delivery, datetime.now(UTC))
        )
        assert response.status_code < 500, response.text
        verified = delivery.signed and delivery.garble is None and delivery.skew < 300
        if not verified:
            assert response.status_code == 401, (delivery, response.text)
        if response.status_code != 202:
            assert await stored() == before, "a refused call stored an event"
        tried[str(response.status_code)] += 1

    await explore(deliveries, check, examples=WEBHOOK_EXAMPLES)
    assert tried["401"] and tried["202"], tried  # the fuzzing reached both sides of the signature check
    figures.add("webhooks", inputs_tried=sum(tried.values()), webhook_calls=sum(tried.values()))
