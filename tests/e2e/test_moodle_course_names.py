"""Rules naming Moodle courses by shortname, as Moodle admins know them: resolved once per run to course ids, so
the same people get the same courses as with ids, and a re-sync writes nothing."""

from __future__ import annotations

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.moodle_company import active_people, expected_courses, moodle_user
from tests.support.service import Service
from tests.support.systems import COURSES, default_spec


async def test_courses_named_by_shortname_enrol_as_ids_do(service: Service) -> None:
    by_name = default_spec({name: name for name in COURSES})
    await service.setup_pipeline(by_name)
    moodle: FakeMoodle = service.moodle

    first = await service.run()

    assert first["status"] == "succeeded", first
    assert first["counters"]["courses"]["unresolved"] == []
    assert first["counters"]["courses"]["resolved"] == service.courses
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]}
    for hr_id, row in people.items():
        user = moodle_user(service, row)
        assert moodle.courses_of(user.id) == expected_courses(service, row, managers), hr_id
    writes = len(moodle.writes)
    again = await service.run()
    assert again["progress"]["ops_planned"] == 0
    assert len(moodle.writes) == writes


async def test_the_moodle_connection_lists_courses_by_shortname_and_id_number(service: Service) -> None:
    service.moodle.add_course("Fire safety 2026", idnumber="HS-FIRE-26")
    await service.setup_pipeline(default_spec(service.courses))
    pipeline = await service.ok(await service.api.get(f"/pipelines/{service.pipeline_id}"))

    listed = await service.ok(await service.api.get(f"/connections/{pipeline['target_id']}/courses"))

    keys = {course["course_id"]: course["keys"] for course in listed["items"]}
    assert keys[service.courses["SEC-200"]] == {"shortname": "SEC-200"}
    assert {"shortname": "Fire safety 2026", "idnumber": "HS-FIRE-26"} in keys.values()
    assert "1" not in keys, "the front page is no course to enrol in"
