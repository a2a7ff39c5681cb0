"""HiBob -> Moodle through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture). HiBob has no change feed, so every run reads everyone; a
webhook's run reads just the employee it names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from enrolsync.connectors.hibob.fake.server import HiBobFake
from tests.support.database import Database
from tests.support.hibob_service import HiBobService, hibob_service
from tests.support.systems import default_spec


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[HiBobService]:
    async with hibob_service(db, tmp_path, HiBobFake.seeded(40, 3)) as running:
        yield running


def active(service: HiBobService) -> set[str]:
    return {h for h in service.hibob.hr_ids() if service.hibob.person(h).status != "terminated"}


def account(service: HiBobService, hr_id: str) -> object:
    return service.moodle.user(service.hibob.person(hr_id).email.lower())


async def test_people_are_created_moved_and_deactivated(service: HiBobService) -> None:
    await service.setup_pipeline(default_spec(service.courses))
    bob, c = service.hibob, service.courses

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active(service)
    managers = {bob.person(h).manager_id for h in people} - {None}
    for hr_id in people:
        user = account(service, hr_id)
        assert user is not None and user.idnumber == hr_id and user.auth == "saml2"  # type: ignore[attr-defined]
    leavers = bob.hr_ids() - people
    assert leavers and all(account(service, h) is None for h in leavers), "a leaver is never provisioned"
    assert (await service.run())["progress"]["ops_planned"] == 0, "a re-read of unchanged people writes nothing"

    engineers = sorted((h for h in people if bob.person(h).department == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers)
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers and h != mover)
    hired = bob.hire("Ada", "Newhire", department="Sales")
    bob.move(mover, department="Sales")
    bob.terminate(leaver, bob.today)

    changed = await service.run()

    assert changed["status"] == "succeeded", changed
    kinds = {(op["kind"], op["hr_id"], op["op"].get("course_id")) for op in await service.operations(changed["id"])}
    assert {
        ("create_user", hired, None),
        ("enrol", hired, c["SALES-110"]),
        ("enrol", mover, c["SALES-110"]),
        ("unenrol", mover, c["SEC-200"]),
        ("update_user", mover, None),
        ("deactivate_user", leaver, None),
    } <= kinds
    assert {k for k in kinds if k[0] in ("create_user", "deactivate_user")} == {
        ("create_user", hired, None),
        ("deactivate_user", leaver, None),
    }, "nobody else is created or deactivated by a full read"
    assert account(service, leaver).suspended is True  # type: ignore[attr-defined]
    assert account(service, hired) is not None


async def test_a_webhook_reads_just_the_employee_it_names(service: HiBobService) -> None:
    await service.setup_pipeline(default_spec(service.courses))
    assert (await service.run())["status"] == "succeeded"
    bob = service.hibob
    mover = next(h for h in sorted(active(service), key=int, reverse=True) if bob.person(h).department != "Sales")
    bob.move(mover, department="Sales")
    before = len(bob.requests)
    call = bob.webhook_request(mover)

    answer = await service.api.post(f"/webhooks/{service.hr_connection_id}", content=call.body, headers=call.headers)
    assert answer.status_code == 202, answer.text
    runs = await service.ok(await service.api.get(f"/pipelines/{service.pipeline_id}/runs"))
    run = await service.finished(runs["items"][0]["id"])

    assert run["status"] == "succeeded", run
    asked = [(r.method, r.url.path) for r in bob.requests[before:]]
    assert asked == [("POST", f"/v1/people/{mover}")], "only the named employee is read"
    assert {op["hr_id"] for op in await service.operations(run["id"])} == {mover}
    assert json.loads(bob.requests[-1].content)["fields"][0] == "root.id"


async def test_bobs_ping_is_accepted_and_a_forged_call_refused(service: HiBobService) -> None:
    await service.setup_pipeline(default_spec(service.courses))
    url = f"/webhooks/{service.hr_connection_id}"
    call = service.hibob.webhook_request("120")
    ping = await service.api.post(url, content=b"Ping test")
    forged = await service.api.post(url, content=call.body, headers={"Bob-Signature": "Zm9yZ2Vk"})
    events = await service.ok(await service.api.get(f"/connections/{service.hr_connection_id}/events"))
    assert ping.status_code == 202 and forged.status_code == 401
    assert events["items"] == [], "neither a ping nor a forged call is recorded"
