"""`enrolsync demo`: a whole sync with no accounts anywhere.

Starts fake BambooHR and Moodle servers on loopback in a process of their own, the service (API and worker) in
this one on an embedded SQLite database under `data_dir/demo`, then, over the REST API as an admin would: creates
both connections and a pipeline, runs a dry run, applies exactly the plan it reviewed (`POST /runs/{id}/apply`:
no second read or plan), runs the same sync again (which writes nothing), and an incremental run after a hire, a
move and a termination in the HR system. The fakes' process builds the company while the worker and the API
start. Prints what each run did, with a progress bar while it runs: a run is waited for until it settles, never
for a fixed time. The connections to the
fakes are paced by the budget the fakes declare (none: they never throttle), not by the vendors' default budgets
(see `demo_systems`); the output says so.

The demo's database is its own (`<data_dir>/demo`, made afresh each time, so a demo never touches the service's
data); it prints the environment that points the CLI at it (`ENROLSYNC_DATA_DIR=...`), an admin token, and a curl
line that works as pasted.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.base import Rate
from enrolsync.connectors.registry import Registry
from enrolsync.demo_systems import FakeBudgets, Served, serve, systems_apart
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.store.tables import ApiRole

POLL_SECONDS = 0.5
console = Console(highlight=False)


def _pipeline_spec(site: Served) -> dict[str, Any]:
    course = site.course_ids
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
    """Request a run and wait for it to settle (`_follow`)."""
    return await _follow(
        api, await _ok(await api.post(f"/pipelines/{pipeline_id}/runs", json={"mode": mode, "scope": scope}))
    )


async def _apply_reviewed(api: httpx.AsyncClient, plan_run_id: str) -> dict[str, Any]:
    """Apply exactly the operations a dry run planned, as a new run, and wait for it to settle (`_follow`)."""
    return await _follow(api, await _ok(await api.post(f"/runs/{plan_run_id}/apply")))


async def _follow(api: httpx.AsyncClient, run: dict[str, Any]) -> dict[str, Any]:
    """Wait for a run to settle, showing people read and operations applied as it goes; the settled run.

    No time limit: a big company takes minutes on a small machine, and planning shows no counter until the plan
    is complete, so only the run's own state ends the wait (the bar's clock shows it is alive; Ctrl-C stops)."""
    mode = run["mode"]
    columns = (TextColumn("   {task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        people = bar.add_task("people read", total=None)
        ops = bar.add_task("operations applied" if mode == "apply" else "operations planned", total=None)
        while run["status"] in ("queued", "running"):
            await asyncio.sleep(POLL_SECONDS)  # a person watching a run polls; so does the demo
            run = await _progress(api, run)
            progress = run["progress"]
            bar.update(people, completed=progress["people_read"])
            if mode == "apply":
                bar.update(ops, completed=progress["ops_applied"], total=progress["ops_planned"] or None)
            else:
                bar.update(ops, completed=progress["ops_planned"])
    return await _read(api, f"/runs/{run['id']}")


async def _read(api: httpx.AsyncClient, path: str, **params: str | int) -> dict[str, Any]:
    """GET, once more on a connection that broke: the API runs on the engine's event loop, which a busy machine
    can hold for longer than the server keeps an idle connection (5 s), and a request sent as the server closes
    that connection fails without having been read. A read is safe to send again."""
    try:
        response = await api.get(path, params=params)
    except httpx.TransportError:
        response = await api.get(path, params=params)
    return await _ok(response)


async def _progress(api: httpx.AsyncClient, run: dict[str, Any]) -> dict[str, Any]:
    """The run's status and progress, as the pipeline's newest run. The run's own resource also counts its
    operations by kind and outcome, a grouped count over all of them (some 25 ms at 20,000 operations, taken
    from the core the engine runs on) that the bar does not show; the report reads it once the run settles."""
    newest = await _read(api, f"/pipelines/{run['pipeline_id']}/runs", limit=1)
    if newest["items"] and newest["items"][0]["id"] == run["id"]:
        found: dict[str, Any] = newest["items"][0]
        return found
    return await _read(api, f"/runs/{run['id']}")  # another run of the pipeline came since


def _report(title: str, run: dict[str, Any], moodle_writes: int) -> None:
    """What a run did. `moodle_writes` counts the HTTP requests that changed something in Moodle so far."""
    ops: dict[str, dict[str, int]] = run["ops"]
    outcome = "planned" if run["mode"] == "plan" else "done"
    count = {kind: sum(n for s, n in by.items() if s in (outcome, "already")) for kind, by in ops.items()}
    failed = sum(by.get("failed", 0) + by.get("not_attempted", 0) for by in ops.values())
    people = run["counters"]["people"]
    took = run["duration_seconds"]
    print(f"\n== {title}: {run['status']} ({run['mode']}, {run['scope']}) in {took or 0:.1f} s")
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
        f"{people['conflicts']} match conflict(s)"
    )
    print(f"   write requests to Moodle so far: {moodle_writes}")
    guard = run["guard"]
    if guard and guard["blocked"]:
        verb = "would stop" if run["mode"] == "plan" else "stopped"
        print(f"   the deletion guard {verb} it until approved: {guard['reason']}")


async def _configure(api: httpx.AsyncClient, site: Served) -> str:
    hr = await _ok(
        await api.post(
            "/connections",
            json={
                "name": "BambooHR (demo)",
                "connector": "bamboohr",
                "config": {
                    "company_domain": "acme",
                    "base_url": f"{site.hr_url}/api/gateway.php/acme/",
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
                    "base_url": f"{site.lms_url}/",
                    "token": "demo-moodle-token",
                    "role_ids": site.role_ids,
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
                "spec": _pipeline_spec(site),
            },
        )
    )
    return str(pipeline["id"])


async def _demo(settings: Settings, people: int, keep_running: bool) -> None:
    # The fakes' process starts first and builds the company on the other core while the worker and the API start;
    # their connections learn the fakes' budget (`budgets`, shared) once the fakes say where they listen, before
    # any connection reaches them.
    budgets: dict[str, Rate | None] = {}
    async with systems_apart(people, seed=7, ready=False) as systems:
        # Every installed connector, loaded (and each config's schema built) once for the worker and the API.
        registry = Registry.from_entry_points()
        worker = await worker_module.start(settings, registry=registry, clients=FakeBudgets(budgets=budgets))
        try:
            app = create_app(settings, registry=registry, clients=FakeBudgets(budgets=budgets))
            async with serve(app, port=settings.demo_port) as api_url:
                site = await systems.ready()
                budgets.update({site.hr_url: site.budget, site.lms_url: site.budget})
                token = await mint_token(app.state.services.sessions, name="demo admin", role=ApiRole.ADMIN)
                print(f"enrolsync API at {api_url} (docs at {api_url}/docs, gauges at {api_url}/metrics)")
                print(f"fake BambooHR at {site.hr_url}, fake Moodle at {site.lms_url} (a process of their own)")
                print(
                    f"   the fakes never throttle, so the demo's connections to them are {_budget(site.budget)}; "
                    "to a real BambooHR or Moodle they keep the connector's default budget"
                )
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as api:
                    pipeline_id = await _configure(api, site)
                    dry_run = await _run(api, pipeline_id, "plan")
                    _report("dry run", dry_run, await systems.writes())
                    _report("first sync", await _apply_reviewed(api, dry_run["id"]), await systems.writes())
                    print(
                        f"   -> exactly the operations the dry run planned (POST /runs/{dry_run['id']}/apply): "
                        "applying a reviewed plan reads HR and plans nothing again"
                    )
                    print(
                        "   -> fewer write requests than operations: Moodle's web services take a batch per call "
                        "(create users, enrol users, assign roles), so one request applies many operations"
                    )
                    before = await systems.writes()
                    again = await _run(api, pipeline_id, "apply")
                    after = await systems.writes()
                    _report("same sync again", again, after)
                    print(f"   -> the second applied sync made {after - before} writes")
                    changes = await systems.change_hr()
                    print("\nHR changes in BambooHR:")
                    print(f"   hired:      {changes.hired}")
                    print(f"   moved:      {changes.moved}")
                    print(f"   terminated: {changes.terminated}")
                    incremental = await _run(api, pipeline_id, "apply", "incremental")
                    _report("incremental sync", incremental, await systems.writes())
                _reach(settings, api_url, token, pipeline_id, keep_running)
                if keep_running:
                    print(f"\nThe service keeps running at {api_url}; press Ctrl-C to stop.")
                    await asyncio.Event().wait()
        finally:
            await worker_module.stop(worker, timeout_seconds=5)


def _budget(rate: Rate | None) -> str:
    return "unthrottled" if rate is None else f"held to {rate.calls} calls per {rate.per_seconds:g} s"


def _reach(settings: Settings, api_url: str, token: str, pipeline_id: str, keep_running: bool) -> None:
    """How to reach what the demo made: from the CLI (its environment) and over the API (a curl line)."""
    env = f"ENROLSYNC_DATA_DIR={shlex.quote(str(settings.data_dir.resolve()))}"
    print(f"\npipeline id: {pipeline_id}")
    print(f"the demo's database is under {settings.data_dir}; point the CLI at it with:")
    print(f"   {env} enrolsync runs {pipeline_id}")
    print(f"   {env} enrolsync token create --role admin --name me")
    print(f"an admin token for the demo's API (shown once): {token}")
    curl = f"curl -H 'Authorization: Bearer {token}' {api_url}/pipelines/{pipeline_id}/runs"
    if keep_running:
        print(f"   {curl}")
    else:
        print(f"with --keep-running the API stays up to explore, e.g.: {curl}")


def main(settings: Settings, *, people: int = 60, keep_running: bool = False, port: int | None = None) -> None:
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
            "demo_port": settings.demo_port if port is None else port,
        }
    )
    asyncio.run(_demo(demo_settings, people, keep_running))
