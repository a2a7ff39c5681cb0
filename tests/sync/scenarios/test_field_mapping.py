"""Field mapping: per pipeline, Moodle account fields from HR fields with simple transforms (template, lower-case,
lookup table, default); a person whose data cannot fill a field is reported with the field, never guessed."""

from __future__ import annotations

from typing import Any

from tests.support.database import Database
from tests.support.systems import make_scenario

MAPPING: dict[str, Any] = {
    "username": "work_email",
    "sso": {"auth": "saml2", "subject": "work_email"},
    "fields": {
        "username": {"template": "{given_name}.{family_name}-{employee_number}", "lower": True},
        "department": {"source": "department", "lookup": {"engineering": "R&D", "Sales": "Commercial"}},
        "location": {"source": "custom.office", "default": "Head office"},
        "job_title": {"default": "Staff"},
    },
}


async def test_accounts_follow_the_pipelines_field_mapping(db: Database) -> None:
    scenario = await make_scenario(db, mapping=MAPPING)
    ada = scenario.hire("Ada", "Lovelace", "Engineering")
    noor = scenario.hire("Noor", "Haddad", "Marketing")

    run = await scenario.run()

    assert run.status == "succeeded"
    account = scenario.account(ada)
    assert account.username == f"ada.lovelace-e{int(ada):05d}"
    assert (account.department, account.city) == ("R&D", "Head office"), "lookup table, then default"
    assert scenario.account(noor).department == "Marketing", "a value the table does not list passes unchanged"

    scenario.hr.move(ada, department="Sales")
    moved = await scenario.run(scope="incremental")

    assert await scenario.planned(moved.id) == [
        ("enrol", ada, "SALES"),
        ("unenrol", ada, "SEC"),
        ("update_user", ada, "department"),
    ]
    assert scenario.account(ada).department == "Commercial"
    assert await scenario.planned((await scenario.run()).id) == [], "no false drift from mapped values"


async def test_a_person_the_mapping_cannot_serve_is_reported_and_skipped(db: Database) -> None:
    scenario = await make_scenario(db, mapping=MAPPING)
    ada = scenario.hire("Ada", "Lovelace", "Engineering")
    nameless = scenario.hire("Noor", "Haddad", "Engineering")
    scenario.hr.update(nameless, employeeNumber=None)

    run = await scenario.run()

    assert {hr_id for _, hr_id, _ in await scenario.planned(run.id)} == {ada}
    assert run.counters["people"]["invalid"] == 1
    error = (await scenario.link(nameless)).last_error
    assert error == f"person {nameless}: username is empty: employee_number is missing and the mapping needs it"
