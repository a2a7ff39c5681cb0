"""SSO identity: the account's auth method and federated subject come from a mapped HR field and stay in step; a
changed email updates the identity of the same account (matching is by external id first), never a second one."""

from __future__ import annotations

from tests.support.systems import Systems as Scenario


async def test_a_changed_email_updates_the_identity_of_the_same_account(scenario: Scenario) -> None:
    person = scenario.hire("Priya", "Patel", "Sales")
    await scenario.run()
    account_id = scenario.account(person).id
    scenario.hr.update(person, email="priya.patel@acme-group.example")

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [
        ("set_sso_identity", person, ""),
        ("update_user", person, "username,email"),
    ]
    account = scenario.account(person)
    assert account.id == account_id
    new = "priya.patel@acme-group.example"
    assert (account.auth, account.email, account.username) == ("saml2", new, new)
    assert sum(u.firstname == "Priya" for u in scenario.lms.state.users.values()) == 1


async def test_a_person_whose_email_changed_before_the_first_link_is_found_by_external_id(
    scenario: Scenario,
) -> None:
    person = scenario.hire("Priya", "Patel", "Sales")
    old = scenario.lms.add_user("ppatel", "Priya", "Patel", "priya@old.example", idnumber=person)

    run = await scenario.run()

    assert not [p for p in await scenario.planned(run.id) if p[0] == "create_user"]
    account = scenario.account(person)
    assert account.id == old and account.auth == "saml2" and account.email == f"priya.patel{person}@acme.example"
