"""Two worker processes share PostgreSQL; the one executing a run is SIGKILLed mid-apply; the other finishes it.

The fakes are served over loopback HTTP from a thread of this process (the workers are separate processes), the
fake Moodle answering writes slowly so the kill lands mid-run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import select

from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.sync.jobs import run_requests, workflow
from enrolsync.sync.store import repo
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Run, RunOp, RunStatus
from tests.support.database import Database
from tests.support.systems import COURSES, default_spec

ROOT = Path(__file__).resolve().parents[2]
WRITE_DELAY = 0.25  # seconds the fake Moodle takes per write: a run then lasts long enough to be killed mid-way


class SlowMoodle(FakeMoodle):
    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if self.is_write(request):
            time.sleep(WRITE_DELAY)  # runs in the fake's own server thread, not in the test's event loop
        return super().handler(request)


class ServedFake:
    """A fake on 127.0.0.1 in a thread of its own, so processes can reach it over HTTP."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", interface="asgi3",
                                lifespan="off", date_header=False, server_header=False)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _spawn_worker(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own CLI, from this interpreter
        [sys.executable, "-m", "enrolsync", "worker"],
        env={**env, "ENROLSYNC_WORKER_ID": name},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def workers(db: Database, tmp_path: Path) -> Iterator[tuple[dict[str, subprocess.Popen[bytes]], str]]:
    key = generate_key()
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "ENROLSYNC_DATA_DIR": str(tmp_path),
        "ENROLSYNC_SECRET_KEYS": json.dumps([key]),
        "ENROLSYNC_ALLOWED_PRIVATE_HOSTS": json.dumps(["127.0.0.1"]),  # the fakes listen on loopback
        "ENROLSYNC_RUN_LEASE_SECONDS": "3",
        "ENROLSYNC_MAINTENANCE_SECONDS": "0.5",
        "ENROLSYNC_LOG_LEVEL": "WARNING",
    }
    procs = {name: _spawn_worker(name, env) for name in ("worker-a", "worker-b")}
    try:
        yield procs, key
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


async def _until(db: Database, run_id: str, check: Any, seconds: float) -> Run:
    """Wait for another process to bring the run to a state (polling the database: the event is in that process)."""
    async with asyncio.timeout(seconds):
        while True:
            async with db.sessions() as session:
                run = await session.get(Run, run_id, populate_existing=True)
                done = await session.exec(select(RunOp).where(RunOp.run_id == run_id, RunOp.status != "planned"))
                if run is not None and check(run, len(done.all())):
                    return run
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_killed_worker_s_run_is_finished_by_the_other_exactly_once(
    db: Database, workers: tuple[dict[str, subprocess.Popen[bytes]], str]
) -> None:
    procs, key = workers
    bamboohr = BambooHRFake.seeded(30, 5, company_domain="acme", api_key="crash-key")
    moodle = SlowMoodle(token="crash-token")
    moodle.add_profile_field("enrolsyncroles")
    courses = {name: str(moodle.add_course(name)) for name in COURSES}
    box = SecretBox([key])
    with ServedFake(bamboohr.asgi) as hr_url, ServedFake(moodle.asgi) as lms_url:
        hosts = ["127.0.0.1"]
        hr_config = {"company_domain": "acme", "api_key": "crash-key", "base_url": f"{hr_url}/api/gateway.php/acme/"}
        hr_public, hr_secret = split_config(BambooHRConfig, hr_config, allowed_http_hosts=hosts)
        role_ids = {n: moodle.role_id(n) for n in ("student", "editingteacher", "manager", "parent")}
        lms_config = {"base_url": f"{lms_url}/", "token": "crash-token", "role_ids": role_ids,
                      "role_mirror_field": "enrolsyncroles", "create_batch_size": 3}  # fmt: skip
        lms_public, lms_secret = split_config(MoodleConfig, lms_config, allowed_http_hosts=hosts)
        async with db.sessions() as session:
            hr = await repo.create_connection(session, name="hr", connector="bamboohr", config=hr_public,
                                              secrets=box.encrypt(hr_secret))  # fmt: skip
            lms = await repo.create_connection(session, name="lms", connector="moodle", config=lms_public,
                                               secrets=box.encrypt(lms_secret))  # fmt: skip
            pipeline = await repo.create_pipeline(session, name="p", source_id=hr.id, target_id=lms.id,
                                                  spec=default_spec(courses))  # fmt: skip
            await session.commit()
            queue = workflow.DbosRunQueue(db.url)
            try:
                run, _ = await run_requests.request_run(
                    session, pipeline_id=pipeline.id, mode="apply", scope="full", queue=queue
                )
            finally:
                queue.close()

        started = await _until(db, run.id, lambda r, done: r.status == RunStatus.RUNNING and done >= 3, 60)
        victim = started.lease_owner
        assert victim in procs
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=10)

        finished = await _until(db, run.id, lambda r, _: r.status not in (RunStatus.QUEUED, RunStatus.RUNNING), 90)

        survivor = next(name for name in procs if name != victim)
        assert finished.status == RunStatus.SUCCEEDED, finished.error
        assert finished.generation >= 1 and finished.lease_owner == survivor
        async with db.sessions() as session:
            ops = list((await session.exec(select(RunOp).where(RunOp.run_id == run.id))).all())
        assert ops and {op.status for op in ops} <= {"done", "already"}, "every operation is logged with its outcome"
        active = {h for h in bamboohr.hr_ids() if bamboohr.row(h)["status"] == "Active"}
        users = [u for u in moodle.state.users.values() if u.idnumber]
        assert sorted(u.idnumber for u in users) == sorted(active), "one account per person: no duplicate creates"
        created = sum(len(call["users"]) for call in moodle.called("core_user_create_users"))
        assert created == len(active), "no account was created twice, even across the crash"

        procs[survivor].send_signal(signal.SIGTERM)
        assert procs[survivor].wait(timeout=30) == 0, "SIGTERM is a clean shutdown"
