"""A CSV export uploaded over REST -> Moodle through the whole service: the API stores the upload in the database,
the durable worker's run reads it back through the transport `open_root` wires, the real csv connector reads it,
the Moodle fake receives the people. A sharply truncated upload is refused on its run, as an SFTP file is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from tests.support.csv_exports import COLUMNS, export
from tests.support.database import Database
from tests.support.running import running_service
from tests.support.systems import LMS_HOST, moodle_config, site

PEOPLE = [str(300 + i) for i in range(12)]  # 300 manages everyone else


@pytest.fixture
async def moodle() -> tuple[FakeMoodle, dict[str, str]]:
    return site("e2e-moodle-token")


@pytest.fixture
async def api(
    db: Database, tmp_path: Path, moodle: tuple[FakeMoodle, dict[str, str]]
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_service(db, tmp_path, transports={LMS_HOST: moodle[0].transport()}, clock=FakeClock()) as api:
        yield api


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


async def _upload_and_wait(api: httpx.AsyncClient, source_id: str, text: str) -> dict[str, Any]:
    receipt = await _ok(await api.post(f"/connections/{source_id}/uploads", content=text.encode(),
                                       headers={"Content-Type": "text/csv"}))  # fmt: skip
    [asked] = receipt["runs"]
    await workflow.outcome(asked["run_id"])
    return dict(await _ok(await api.get(f"/runs/{asked['run_id']}")))


async def test_an_uploaded_export_reaches_moodle_and_a_truncated_one_is_refused(
    api: httpx.AsyncClient, moodle: tuple[FakeMoodle, dict[str, str]]
) -> None:
    lms, courses = moodle
    config = {"origin": "upload", "columns": COLUMNS}
    hr = await _ok(await api.post("/connections", json={"name": "HR upload", "connector": "csv", "config": config}))
    target = await _ok(await api.post("/connections", json={"name": "Moodle", "connector": "moodle",
                                                            "config": moodle_config(lms)}))  # fmt: skip
    spec = {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [courses["SAFETY-101"]]}
        ],
        "mapping": {"username": "work_email"},
    }
    await _ok(await api.post("/pipelines", json={"name": "Training", "source_id": hr["id"], "target_id": target["id"],
                                                 "spec": spec}))  # fmt: skip

    first = await _upload_and_wait(api, hr["id"], export(PEOPLE))

    assert first["status"] == "succeeded", first
    assert first["trigger"] == "upload" and first["progress"]["people_read"] == len(PEOPLE)
    active = {u.idnumber for u in lms.state.users.values() if u.idnumber and not u.suspended}
    assert active == set(PEOPLE)
    safety = int(courses["SAFETY-101"])
    assert all(safety in lms.courses_of(u.id) for u in lms.state.users.values() if u.idnumber in PEOPLE)

    truncated = await _upload_and_wait(api, hr["id"], export(PEOPLE[:5]))

    assert truncated["status"] == "failed", truncated
    assert "5 rows, 58% fewer than the 12" in truncated["error"], truncated["error"]
    still = {u.idnumber for u in lms.state.users.values() if u.idnumber and not u.suspended}
    assert still == set(PEOPLE), "a refused file deactivates nobody"
    listed = await _ok(await api.get(f"/connections/{hr['id']}/uploads"))
    assert [u["rows_estimate"] for u in listed["items"]] == [5, 12]
