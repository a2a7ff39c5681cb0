"""What a full run asks of a Moodle site depends on the pipeline's people, not on the accounts the site holds
besides (issue 19): the same company synced to a site with a few hundred other users and to one with three times
as many sends the same requests and reads the same records, and no run reads every user of the site."""

from __future__ import annotations

from collections import Counter
from typing import Any

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.database import Database
from tests.support.systems import SCENARIO_HR_KEY, Systems, connect, site, training_spec

PEOPLE = 30


def company() -> BambooHRFake:
    hr = BambooHRFake(company_domain="acme", api_key=SCENARIO_HR_KEY)
    leads = [hr.hire("Lead", f"Person{n}", department="Engineering") for n in range(3)]
    for n in range(PEOPLE - len(leads)):
        hr.hire("Staff", f"Person{n}", department=("Engineering", "Sales")[n % 2], manager=leads[n % len(leads)])
    return hr


async def pipeline(db: Database, others: int) -> Systems:
    lms, courses = site("scenario-moodle-token", ("SAFETY", "SEC", "SALES", "LEAD"))
    for n in range(others):
        lms.add_user(f"other{n}", "Other", f"User {n}", f"other{n}@elsewhere.example", idnumber=f"X{n}")
    c = courses
    spec = training_spec(c["SAFETY"], c["SEC"], c["SALES"], c["LEAD"])
    return await connect(db, company(), lms, courses, spec, fields={"username": "customUsername"})


def asked(lms: FakeMoodle) -> dict[str, Any]:
    """Requests and records served per web-service function since the last call; the site's logs start afresh."""
    figures = {"requests": Counter(name for name, _ in lms.calls), "items": Counter(lms.served)}
    lms.calls.clear()
    lms.served.clear()
    return figures


def reads_every_user(lms_calls: list[tuple[str, dict[str, Any]]]) -> bool:
    return any(
        name == "core_user_get_users" and {"key": "email", "value": "%"} in params["criteria"]
        for name, params in lms_calls
    )


async def test_a_full_run_costs_the_same_however_many_accounts_the_site_holds_besides(db: Database) -> None:
    small, large = await pipeline(db, others=600), await pipeline(db, others=1800)
    figures: dict[str, list[dict[str, Any]]] = {"small": [], "large": []}
    for name, systems in (("small", small), ("large", large)):
        for _ in range(2):  # the first sync, then a full run with nothing to change
            run = await systems.run()
            assert run.status == "succeeded", run
            assert not reads_every_user(systems.lms.calls)
            figures[name].append(asked(systems.lms))

    assert figures["small"] == figures["large"]
    initial, again = figures["large"]
    assert initial["requests"]["core_user_create_users"] > 0
    # The linked accounts are read by id, with their SSO identities and the role records they carry (drift
    # compares roles: the mirror field of the linked accounts alone), in one request per 200.
    assert again["requests"]["core_user_get_users_by_field"] == 1
    assert again["items"]["core_user_get_users_by_field"] == PEOPLE
    assert "core_user_get_users" not in again["requests"], "nobody left to match, so no search"
    assert sum(again["items"].values()) < 30 * PEOPLE, again


async def test_an_account_made_by_hand_before_the_first_sync_is_still_matched(db: Database) -> None:
    systems = await pipeline(db, others=900)
    hr_id = sorted(systems.hr.hr_ids(), key=int)[-1]
    email = systems.hr.row(hr_id)["email"]
    # Typed by hand, in another case than HR's: found by a search, linked, not created a second time.
    existing = systems.lms.add_user("handmade", "Hand", "Made", email.upper())

    run = await systems.run()

    assert run.status == "succeeded", run
    assert (await systems.link(hr_id)).account_id == str(existing)
    assert not reads_every_user(systems.lms.calls)
    assert len([u for u in systems.lms.state.users.values() if u.email.lower() == email.lower()]) == 1
