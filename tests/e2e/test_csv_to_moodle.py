"""A CSV export on an SFTP server -> Moodle through the whole service: REST API, durable worker, the real csv
connector against a real SFTP server on loopback (asyncssh, generated keys), the Moodle fake.

Each file is a full snapshot. Covered: a file with bad rows (reported by line and field on the run, the rest
synced, a person whose row broke kept rather than deactivated), a file whose header changed (refused, nothing
synced, accepted once the admin raises `accept_revision`), a sharply truncated file (refused) and a mildly
truncated one (synced up to the deletion guard, which blocks it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.csv.fake import SftpExportServer, SftpUser
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.jobs import workflow
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole
from tests.support.csv_exports import COLUMNS, HEADER, row
from tests.support.database import Database
from tests.support.systems import LMS_HOST, moodle_config, site

PEOPLE = [str(100 + i) for i in range(20)]  # 100 manages everyone else
EXPORT = "exports/people.csv"


# In every file: a person the rules cannot map (no email, and usernames are emails), so no run is "clean". Runs of
# a file source still move its checkpoint, the last accepted file, or new files would never be compared with it.
# (Reporting to nobody: a manager role over a report who cannot be created is planned, then not attempted.)
UNMAPPABLE = row("199", email="")


def export(ids: list[str], *extra: str, header: str = HEADER) -> str:
    people = [row(i, manager="" if i == PEOPLE[0] else PEOPLE[0]) for i in ids]
    return "\n".join([header, *people, UNMAPPABLE, *extra]) + "\n"


@dataclass
class CsvService:
    api: httpx.AsyncClient
    sftp: SftpExportServer
    moodle: FakeMoodle
    courses: dict[str, str]
    key: asyncssh.SSHKey
    pipeline_id: str = ""
    source_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup(self) -> None:
        c = self.courses
        spec = {
            "rules": [
                {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [c["SAFETY-101"]]},
                {"name": "leads", "when": {"op": "is_manager"}, "enrol": [c["LEAD-1"]]},
            ],
            "mapping": {"username": "work_email"},
            "policies": {"deactivation_guard": {"percent": 10, "min_count": 2}},
        }
        config = {
            "url": self.sftp.url(EXPORT), "username": "hr-export",
            "private_key": self.key.export_private_key().decode(), "known_hosts": self.sftp.known_hosts_line,
            "columns": COLUMNS, "custom": {"cost_centre": "Cost center"},
        }  # fmt: skip
        hr = await self.ok(await self.api.post("/connections", json={"name": "HR export", "connector": "csv",
                                                                      "config": config}))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle", "config": moodle_config(self.moodle),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id, self.source_id = pipeline["id"], hr["id"]
        assert "PRIVATE KEY" not in json.dumps(hr), "the private key is write-only"

    async def run(self, scope: str = "full") -> dict[str, Any]:
        path = f"/pipelines/{self.pipeline_id}/runs"
        run = await self.ok(await self.api.post(path, json={"mode": "apply", "scope": scope}))
        await workflow.outcome(run["id"])
        return dict(await self.ok(await self.api.get(f"/runs/{run['id']}")))

    def active(self) -> set[str]:
        """hr_ids of the active Moodle accounts."""
        return {u.idnumber for u in self.moodle.state.users.values() if u.idnumber and not u.suspended}

    def accounts(self) -> list[tuple[Any, ...]]:
        return sorted(astuple(u) for u in self.moodle.state.users.values())


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[CsvService]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    root = tmp_path / "sftp"
    root.mkdir()
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    clients = ClientFactory(transports={LMS_HOST: moodle.transport()}, clock=clock, read_retry=ReadRetry(clock=clock))
    system_url = f"sqlite:///{tmp_path / 'jobs.sqlite'}" if db.kind == "sqlite" else db.url
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, system_database_url=system_url,
        secret_keys=[SecretStr(generate_key())], allowed_private_hosts=["127.0.0.1"],
    )  # fmt: skip
    registry = Registry.from_entry_points()
    users = {"hr-export": SftpUser(public_key=key.export_public_key().decode())}
    async with SftpExportServer(root, users) as sftp:
        worker = await worker_module.start(settings, registry=registry, clients=clients, clock=clock)
        try:
            app = create_app(settings, registry=registry, clients=clients)
            async with app.router.lifespan_context(app):
                token = await mint_token(app.state.services.sessions, name="e2e admin", role=ApiRole.ADMIN)
                headers = {"Authorization": f"Bearer {token}"}
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://enrolsync.test", headers=headers
                ) as api:
                    yield CsvService(api=api, sftp=sftp, moodle=moodle, courses=courses, key=key)
        finally:
            await worker_module.stop(worker, timeout_seconds=1)


async def test_a_csv_export_over_sftp_reaches_moodle_and_bad_files_are_refused(service: CsvService) -> None:
    await service.setup()
    check = await service.ok(await service.api.post(f"/connections/{service.source_id}/check"))
    assert not check["ok"] and "no export file" in check["detail"], check
    service.sftp.write(EXPORT, export(PEOPLE))
    check = await service.ok(await service.api.post(f"/connections/{service.source_id}/check"))
    assert check["ok"], check

    first = await service.run()

    assert first["status"] == "succeeded", first
    assert first["counters"]["people"]["invalid"] == 1
    assert service.active() == set(PEOPLE)
    lead = service.moodle.user("p100@example.com")
    assert lead is not None and int(service.courses["LEAD-1"]) in service.moodle.courses_of(lead.id)

    # Bad rows: reported by line and field, the rest goes through. 105's row broke: kept, not a leaver.
    # 119 is missing from the file: a leaver. 200 is new but its date is bad: not created.
    rows = [i for i in PEOPLE if i not in ("105", "119")]
    bad = [row("105", manager="100", email="broken-address"), row("200", manager="100", end="someday"),
           row("", given="Nobody")]  # fmt: skip
    service.sftp.write(EXPORT, export(rows, *bad))

    with_bad_rows = await service.run()

    assert with_bad_rows["status"] == "succeeded", with_bad_rows
    assert with_bad_rows["counters"]["people"]["rejected"] == 3
    assert [(r["line"], r["field"], r["hr_id"]) for r in with_bad_rows["rejected"]] == [
        (21, "work_email", "105"), (22, "termination_date", "200"), (23, "hr_id", None),
    ]  # fmt: skip
    assert service.active() == set(PEOPLE) - {"119"}, "105 kept as last read, 119 left, 200 not created"
    bad_rows_file = export([i for i in PEOPLE if i != "119"])
    service.sftp.write(EXPORT, bad_rows_file)
    assert (await service.run())["status"] == "succeeded"

    # A changed header: refused with the reason, nothing synced; accepted once the admin raises the revision.
    renamed = HEADER.replace("Email", "E-mail")
    service.sftp.write(EXPORT, export([i for i in PEOPLE if i not in ("119", "118")], header=renamed))
    before = service.accounts()

    refused = await service.run()

    assert refused["status"] == "failed", refused
    assert "header changed" in refused["error"] and "'E-mail'" in refused["error"], refused["error"]
    assert refused["progress"]["ops_planned"] == 0 and service.active() == set(PEOPLE) - {"119"}
    assert service.accounts() == before
    patch = {"config": {"accept_revision": 1, "columns": {**COLUMNS, "work_email": "E-mail"}}}
    await service.ok(await service.api.patch(f"/connections/{service.source_id}", json=patch))
    accepted = await service.run()
    assert accepted["status"] == "succeeded", accepted
    assert service.active() == set(PEOPLE) - {"119", "118"}

    # A sharply truncated file (9 of 19 rows): refused, nobody deactivated.
    kept = [i for i in PEOPLE if i not in ("119", "118")]
    service.sftp.write(EXPORT, export(kept[:8], header=renamed))

    truncated = await service.run()

    assert truncated["status"] == "failed", truncated
    assert "9 rows, 53% fewer than the 19" in truncated["error"], truncated["error"]
    assert service.active() == set(kept)

    # A mildly truncated file (16 of 19, within max_row_drop): the deletion guard blocks its three leavers.
    service.sftp.write(EXPORT, export(kept[:15], header=renamed))
    guarded = await service.run()
    assert guarded["status"] == "blocked", guarded
    assert guarded["guard"]["deactivations"] == 3 and guarded["guard"]["allowed"] == 2
    assert service.active() == set(kept)
