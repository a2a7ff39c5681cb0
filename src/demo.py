"""`enrolsync demo`: a whole sync with no accounts anywhere.

Starts fake BambooHR and Moodle servers on loopback, the service (API and worker) on an embedded SQLite database
under `data_dir/demo`, then, over the REST API as an admin would: creates both connections and a pipeline, runs a
dry run, an applied sync, the same sync again (which writes nothing), and an incremental run after a hire, a move
and a termination in the HR system. Prints what each run did.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import httpx

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.demo_systems import DemoSystems, build_systems, serve
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.store.tables import ApiRole

RUN_TIMEOUT_SECONDS = 120


def _pipeline_spec(systems: DemoSystems) -> dict[str, Any]:
    course = systems.course_ids
    return {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [course["SAFETY-101"]]},
            {
                "name": "engineering",
                "when": {"attr": "department", "op": "equals", "value": "Engineering"},
                "enrol": [course["SEC-200"]],
            },
            {"name": "people leaders", "when": {"op": "is_manager"}, "enrol": [course["LEAD-1"]]},
            {
                "name": "sales",
                "when": {"attr": "department", "op": "prefix", "value": "sales"},
                "enrol": [course["SALES-110"]],
            },
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }


async def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


async def _run(api: httpx.AsyncClient, pipeline_id: str, mode: str, scope: str = "full") -> dict[str, Any]:
    run = await _ok(await api.post(f"/pipelines/{pipeline_id}/runs", json={"mode": mode, "scope": scope}))
    async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
        while run["status"] in ("queued", "running"):
            await asyncio.sleep(0.2)  # a person watching a run polls; so does the demo
            run = await _ok(await api.get(f"/runs/{run['id']}"))
    return run


def _report(title: str, run: dict[str, Any], moodle_writes: int) -> None:
    ops: dict[str, dict[str, int]] = run["ops"]
    outcome = "planned" if run["mode"] == "plan" else "done"
    count = {kind: sum(n for s, n in by.items() if s in (outcome, "already")) for kind, by in ops.items()}
    failed = sum(by.get("failed", 0) + by.get("not_attempted", 0) for by in ops.values())
    people = run["counters"]["people"]
    print(f"\n== {title}: {run['status']} ({run['mode']}, {run['scope']})")
    print(f"   people read {run['progress']['people_read']}, operations planned {run['progress']['ops_planned']}")
    verb = "would be" if run["mode"] == "plan" else "were"
    for kind in (
        "create_user",
        "update_user",
        "deactivate_user",
        "reactivate_user",
        "enrol",
        "unenrol",
        "assign_role",
        "revoke_role",
        "set_sso_identity",
    ):
        if count.get(kind):
            print(f"   {kind.replace('_', ' ')}: {count[kind]} {verb} applied")
    print(
        f"   errors: {failed} operation(s), {people['invalid']} invalid record(s), "
        f"{people['conflicts']} match conflict(s); write requests to Moodle so far: {moodle_writes}"
    )
    guard = run["guard"]
    if guard and guard["blocked"]:
        verb = "would stop" if run["mode"] == "plan" else "stopped"
        print(f"   the deletion guard {verb} it until approved: {guard['reason']}")


async def _configure(api: httpx.AsyncClient, systems: DemoSystems, hr_url: str, lms_url: str) -> str:
    hr = await _ok(
        await api.post(
            "/connections",
            json={
                "name": "BambooHR (demo)",
                "connector": "bamboohr",
                "config": {
                    "company_domain": "acme",
                    "base_url": f"{hr_url}/api/gateway.php/acme/",
                    "api_key": "demo-bamboohr-key",
                },
            },
        )
    )
    lms = await _ok(
        await api.post(
            "/connections",
            json={
                "name": "Moodle (demo)",
                "connector": "moodle",
                "config": {
                    "base_url": f"{lms_url}/",
                    "token": "demo-moodle-token",
                    "role_ids": systems.role_ids,
                    "role_mirror_field": "enrolsyncroles",
                    "job_title_field": "jobtitle",
                },
            },
        )
    )
    for connection in (hr, lms):
        check = await _ok(await api.post(f"/connections/{connection['id']}/check"))
        print(f"check {connection['name']}: {'ok' if check['ok'] else 'FAILED'} ({check['detail']})")
    pipeline = await _ok(
        await api.post(
            "/pipelines",
            json={
                "name": "Onboarding training",
                "source_id": hr["id"],
                "target_id": lms["id"],
                "spec": _pipeline_spec(systems),
            },
        )
    )
    return str(pipeline["id"])


def _change_hr(systems: DemoSystems) -> None:
    bamboohr = systems.bamboohr
    active = [i for i in sorted(bamboohr.hr_ids(), key=int) if bamboohr.row(i)["status"] == "Active"]
    engineers = [i for i in active if bamboohr.row(i)["jobInformationDepartment"] == "Engineering"]
    bamboohr.hire(first_name="Ada", last_name="Newhire", department="Engineering", manager=engineers[0])
    bamboohr.move(engineers[-1], department="Sales")
    bamboohr.terminate(active[-1], on=bamboohr.today)


async def _demo(settings: Settings, people: int, keep_running: bool) -> None:
    systems = build_systems(people, seed=7)
    async with serve(systems.bamboohr.asgi, fake=True) as hr_url, serve(systems.moodle.asgi, fake=True) as lms_url:
        worker = await worker_module.start(settings)
        try:
            app = create_app(settings)
            async with serve(app, port=settings.demo_port) as api_url:
                token = await mint_token(app.state.services.sessions, name="demo admin", role=ApiRole.ADMIN)
                print(f"enrolsync API at {api_url} (docs at {api_url}/docs)")
                print(f"fake BambooHR at {hr_url}, fake Moodle at {lms_url}")
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as api:
                    pipeline_id = await _configure(api, systems, hr_url, lms_url)
                    _report("dry run", await _run(api, pipeline_id, "plan"), len(systems.moodle.writes))
                    _report("first sync", await _run(api, pipeline_id, "apply"), len(systems.moodle.writes))
                    before = len(systems.moodle.writes)
                    _report("same sync again", await _run(api, pipeline_id, "apply"), len(systems.moodle.writes))
                    print(f"   -> the second applied sync made {len(systems.moodle.writes) - before} writes")
                    _change_hr(systems)
                    print("\nHR changes: one hire, one move to Sales, one termination")
                    incremental = await _run(api, pipeline_id, "apply", "incremental")
                    _report("incremental sync", incremental, len(systems.moodle.writes))
                if keep_running:
                    print(f"\nThe service keeps running at {api_url}; press Ctrl-C to stop.")
                    print(f"An admin token for it (shown once): {token}")
                    await asyncio.Event().wait()
        finally:
            await worker_module.stop(worker, timeout_seconds=5)


def main(settings: Settings, *, people: int = 60, keep_running: bool = False) -> None:
    """Run the demo on a fresh embedded database under `data_dir/demo`, so each demo starts from scratch."""
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    # The demo's database and key are personal data too: folders the owner's only, as the service makes them.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    demo_dir.mkdir(mode=0o700)
    demo_settings = settings.model_copy(
        update={
            "data_dir": demo_dir,
            "database_url": None,
            "system_database_url": None,
            "secret_keys": [],
            # The demo's fakes listen on loopback, which the egress policy refuses unless admitted, as here.
            "allowed_private_hosts": [*settings.allowed_private_hosts, "127.0.0.1"],
        }
    )
    asyncio.run(_demo(demo_settings, people, keep_running))
