"""First link: a pipeline starting on a Moodle site that already has users matches each person once, by external
id, then email (case- and whitespace-insensitive), then username; ambiguity is a conflict on the person and the
run, and the person is skipped until it is resolved."""

from __future__ import annotations

from tests.support.systems import Systems as Scenario


async def test_an_existing_account_is_matched_by_email_whatever_its_case(scenario: Scenario) -> None:
    person = scenario.hire("Ada", "Lovelace", "Sales")
    email = f"ada.lovelace{person}@acme.example"
    scenario.hr.update(person, email=f"  ADA.lovelace{person}@acme.EXAMPLE ")
    existing = scenario.lms.add_user("alovelace", "Ada", "Lovelace", f"Ada.Lovelace{person}@ACME.example")

    run = await scenario.run()

    assert run.status == "succeeded"
    assert await scenario.planned(run.id) == [
        ("enrol", person, "SAFETY"),
        ("enrol", person, "SALES"),
        ("set_sso_identity", person, ""),
        # The matched account takes the HR profile: the HR id, the username and email as mapped, the department...
        ("update_user", person, "username,email,external_id,auth,department,job_title,location"),
    ]
    assert (await scenario.link(person)).account_id == str(existing)
    account = scenario.account(person)
    assert account.id == existing and (account.username, account.email) == (email, email)
    assert len([u for u in scenario.lms.state.users.values() if u.firstname == "Ada"]) == 1, "no second account"


async def test_two_people_matching_one_account_are_both_skipped_and_reported(scenario: Scenario) -> None:
    first = scenario.hire("Sam", "Khan", "Sales")
    second = scenario.hire("Sam", "Khan", "Sales")
    shared = f"sam.khan{first}@acme.example"
    scenario.hr.update(second, email=shared)  # a duplicate HR record
    account = scenario.lms.add_user("skhan", "Sam", "Khan", shared)
    other = scenario.hire("Uma", "Varga", "Sales")

    run = await scenario.run()

    assert {hr_id for _, hr_id, _ in await scenario.planned(run.id)} == {other}, "only the unambiguous person"
    assert run.conflicted == sorted([first, second])
    assert run.counters["people"]["conflicts"] == 2
    for hr_id, rival in ((first, second), (second, first)):
        link = await scenario.link(hr_id)
        assert link.account_id is None
        assert link.last_error is not None and "by email" in link.last_error and rival in link.last_error
    assert scenario.lms.state.users[account].idnumber == "", "the account was left alone"

    scenario.hr.update(second, email=f"sam.khan{second}@acme.example")  # HR fixes the duplicate
    fixed = await scenario.run()

    assert fixed.counters["people"]["conflicts"] == 0 and fixed.conflicted == []
    assert (await scenario.link(first)).account_id == str(account)
    assert ("create_user", second, "") in await scenario.planned(fixed.id)
    assert (await scenario.link(first)).last_error is None


async def test_one_person_matching_two_accounts_is_skipped_and_reported(scenario: Scenario) -> None:
    person = scenario.hire("Wen", "Young", "Engineering")
    email = f"wen.young{person}@acme.example"
    scenario.lms.options.allow_same_email = True
    twins = {scenario.lms.add_user("wyoung", "Wen", "Young", email), scenario.lms.add_user("wen2", "Wen", "Y", email)}

    run = await scenario.run()

    assert await scenario.planned(run.id) == []
    assert (run.counters["people"]["conflicts"], run.conflicted) == (1, [person])
    link = await scenario.link(person)
    assert link.account_id is None and link.last_error is not None
    assert "2 accounts by email" in link.last_error and all(str(t) in link.last_error for t in twins)
    assert all(u.idnumber == "" for u in scenario.lms.state.users.values() if u.id in twins)


async def test_the_external_id_wins_over_the_email(scenario: Scenario) -> None:
    person = scenario.hire("Kira", "Ito", "Sales")
    mine = scenario.lms.add_user("kito", "Kira", "Ito", "kira@old-domain.example", idnumber=person)
    scenario.lms.add_user("someone", "Some", "One", f"kira.ito{person}@acme.example")

    run = await scenario.run()

    assert (await scenario.link(person)).account_id == str(mine)
    assert run.counters["people"]["conflicts"] == 0


async def test_a_lookalike_email_never_takes_over_an_account(scenario: Scenario) -> None:
    # The review's attack: an HR email with the Kelvin sign (U+212A) for `k` matched kate.k's unlinked account.
    kate = scenario.lms.add_user("kate", "Kate", "King", "kate.k@acme.example")
    person = scenario.hire("Mallory", "Kray", "Sales")
    scenario.hr.update(person, email="\u212aate.k@acme.example")
    wide = scenario.hire("Wanda", "Wide", "Sales")
    scenario.hr.update(wide, email="\uff4bate.k@acme.example")  # full-width k: NFKC folds it to k too

    run = await scenario.run()

    assert sorted(run.conflicted) == sorted([person, wide])
    for hr_id in (person, wide):
        link = await scenario.link(hr_id)
        assert link.account_id is None
        assert link.last_error is not None and "looks like" in link.last_error and str(kate) in link.last_error
    account = scenario.lms.state.users[kate]
    assert (account.email, account.idnumber, account.firstname) == ("kate.k@acme.example", "", "Kate"), "untouched"


async def test_a_non_ascii_email_written_alike_finds_its_account(scenario: Scenario) -> None:
    person = scenario.hire("Rene", "Dupont", "Sales")
    scenario.hr.update(person, email="Ren\u00e9.Dupont@acme.example")
    existing = scenario.lms.add_user("rdupont", "Ren\u00e9", "Dupont", "ren\u00e9.dupont@ACME.example")

    run = await scenario.run()

    assert run.conflicted == []
    assert (await scenario.link(person)).account_id == str(existing)
