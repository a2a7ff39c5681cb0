"""The whole service in one process: API over ASGI, the DBOS worker, BambooHR and Moodle fakes behind transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole
from tests.support.database import Database
from tests.support.service import Service
from tests.support.systems import HR_HOST, LMS_HOST, site


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[Service]:
    """The service with an admin's client, a 40-person company in BambooHR and a Moodle site with `COURSES`."""
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    clients = ClientFactory(
        transports={HR_HOST: bamboohr.transport(), LMS_HOST: moodle.transport()},
        clock=clock,
        read_retry=ReadRetry(clock=clock),
    )
    system_url = f"sqlite:///{tmp_path / 'jobs.sqlite'}" if db.kind == "sqlite" else db.url
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, system_database_url=system_url,
        secret_keys=[SecretStr(generate_key())],
    )  # fmt: skip
    registry = Registry.from_entry_points()
    worker = await worker_module.start(settings, registry=registry, clients=clients, clock=clock)
    try:
        app = create_app(settings, registry=registry, clients=clients)
        async with app.router.lifespan_context(app):
            token = await mint_token(app.state.services.sessions, name="e2e admin", role=ApiRole.ADMIN)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://enrolsync.test", headers=headers) as api:
                yield Service(api=api, bamboohr=bamboohr, moodle=moodle, courses=courses, clock=clock)
    finally:
        await worker_module.stop(worker, timeout_seconds=1)
