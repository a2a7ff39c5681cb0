"""BambooHR -> Moodle through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture), with the job engine on each.
"""

from __future__ import annotations

from enrolsync.connectors.moodle.fake.versions import CORE_AUTHS
from tests.support.moodle_company import active_people, expected_courses, moodle_user
from tests.support.service import Service
from tests.support.systems import default_spec


async def test_a_company_syncs_once_then_only_its_changes(service: Service) -> None:
    await service.setup_pipeline(default_spec(service.courses))

    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and dry["progress"]["ops_planned"] > 0
    assert service.moodle.writes == [], "a dry run writes nothing"

    first = await service.run()
    assert first["status"] == "succeeded", first
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]}
    for hr_id, row in people.items():
        user = moodle_user(service, row)
        assert user is not None and user.idnumber == hr_id and user.auth == "saml2"
        assert service.moodle.courses_of(user.id) == expected_courses(service, row, managers), hr_id
    for hr_id in managers & set(people):
        boss = moodle_user(service, people[hr_id])
        reports = {moodle_user(service, r).id for r in people.values() if str(r["supervisorEid"]) == hr_id}
        assert {
            i for role, level, i in service.moodle.roles_of(boss.id) if role == "parent" and level == "user"
        } == reports
    writes = len(service.moodle.writes)

    again = await service.run()
    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0
    assert len(service.moodle.writes) == writes, "a re-sync of unchanged people writes nothing"

    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers)
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers and h != mover)
    hired = service.bamboohr.hire("Ada", "Newhire", department="Sales", manager=None)
    service.bamboohr.move(mover, department="Sales")
    service.bamboohr.terminate(leaver, on=service.bamboohr.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    ops = sorted((op["kind"], op["hr_id"], op["op"].get("course_id")) for op in await service.operations(changed["id"]))
    c = service.courses
    leaver_manager = str(people[leaver]["supervisorEid"]) if people[leaver]["supervisorEid"] else None
    expected = [
        ("create_user", hired, None),
        ("deactivate_user", leaver, None),
        ("enrol", hired, c["SAFETY-101"]),
        ("enrol", hired, c["SALES-110"]),
        ("enrol", mover, c["SALES-110"]),
        ("set_sso_identity", hired, None),
        ("unenrol", mover, c["SEC-200"]),
        ("update_user", mover, None),
    ]
    if leaver_manager:
        expected.append(("revoke_role", leaver_manager, None))
        others = [h for h, r in people.items() if str(r["supervisorEid"]) == leaver_manager and h != leaver]
        if not others:  # the leaver was their only report: they no longer lead anyone
            expected.append(("unenrol", leaver_manager, c["LEAD-1"]))
    assert ops == sorted(expected)
    assert moodle_user(service, people[leaver]).suspended is True
    assert service.moodle.courses_of(moodle_user(service, people[leaver]).id), "a leaver keeps their training"
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0


async def test_one_rejected_person_fails_alone_and_a_busy_moodle_is_waited_for(service: Service) -> None:
    await service.setup_pipeline({**default_spec(service.courses), "match_keys": ["external_id"]})
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # Someone already holds the victim's email in Moodle under another account: Moodle refuses that create.
    service.moodle.add_user("someone.else", "Some", "One", people[victim]["email"].lower())
    service.moodle.fail_next(1, status=503, retry_after=4, when=service.moodle.is_write)

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)]
    assert "[invalidparameter]" in failed[0]["last_error"]  # Moodle without debugging says no more
    created = {h for h, r in people.items() if moodle_user(service, r) is not None}
    assert created == set(people) - {victim}
    assert all(moodle_user(service, people[h]).idnumber == h for h in set(people) - {victim})
    assert 4 in service.clock.sleeps, "the 503's Retry-After was honoured before the batch was sent again"


async def test_an_sso_plugin_moodle_lacks_is_named_by_check_and_the_dry_run_and_nothing_is_written(
    service: Service,
) -> None:
    """Moodle validates `auth` as an installed plugin for the whole call: an SSO mapping to an absent one would fail
    every create of a batch. Found before anything is written, in `check` and in the dry run (issue 11)."""
    service.moodle.options.auths = CORE_AUTHS  # this site never had auth_saml2 installed
    await service.setup_pipeline(default_spec(service.courses))  # its SSO mapping says auth 'saml2'
    [moodle] = [
        c for c in (await service.ok(await service.api.get("/connections")))["items"] if c["connector"] == "moodle"
    ]
    await service.ok(
        await service.api.patch(f"/connections/{moodle['id']}", json={"config": {"auth_plugins": ["saml2"]}})
    )
    check = await service.ok(await service.api.post(f"/connections/{moodle['id']}/check"))
    assert not check["ok"] and "saml2" in check["detail"]

    dry = await service.run(mode="plan")

    people = active_people(service)
    assert dry["status"] == "succeeded" and dry["progress"]["ops_planned"] == 0
    assert dry["counters"]["people"]["invalid"] == len(people)
    hr_id = sorted(people)[0]
    person = await service.ok(await service.api.get(f"/pipelines/{service.pipeline_id}/people/{hr_id}"))
    assert "auth plugin 'saml2' is not installed" in person["last_error"]
    assert service.moodle.writes == [], "a dry run writes nothing, and asking Moodle about plugins neither"
