"""Fixtures for the csv source: a real SFTP server (asyncssh) on loopback with generated keys, and configs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from enrolsync.connectors.csv import CsvSource
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.fake import SftpExportServer, SftpUser
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.csv_exports import COLUMNS, PASSWORD


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def server(tmp_path: Path, client_key: asyncssh.SSHKey) -> AsyncIterator[SftpExportServer]:
    public = client_key.export_public_key().decode()
    users = {"hr-export": SftpUser(public_key=public), "hr-pw": SftpUser(password=PASSWORD)}
    root = tmp_path / "sftp-root"
    root.mkdir()
    async with SftpExportServer(root, users) as running:
        yield running


@pytest.fixture
def make_config(server: SftpExportServer, client_key: asyncssh.SSHKey) -> Callable[..., CsvConfig]:
    """A config for the key login; keyword arguments override fields (e.g. `password=` for the password login)."""

    def make(**changes: Any) -> CsvConfig:
        base: dict[str, Any] = {
            "url": server.url("exports/people.csv"),
            "username": "hr-export",
            "private_key": client_key.export_private_key().decode(),
            "host_key": server.host_key_line,
            "columns": COLUMNS,
            "custom": {"cost_centre": "Cost center"},
            "page_size": 3,
        }
        return CsvConfig.model_validate({**base, **changes})

    return make


@pytest.fixture
def config(make_config: Callable[..., CsvConfig]) -> CsvConfig:
    return make_config()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def source(config: CsvConfig, clock: FakeClock) -> AsyncIterator[CsvSource]:
    async with httpx.AsyncClient() as http:
        yield CsvSource(config, http, retry=ReadRetry(attempts=3, clock=clock))


@pytest.fixture
def connect(clock: FakeClock) -> Callable[[CsvConfig], CsvSource]:
    """A source for another config (the HTTP client is unused by this connector)."""

    def make(config: CsvConfig) -> CsvSource:
        return CsvSource(config, httpx.AsyncClient(), retry=ReadRetry(attempts=2, clock=clock))

    return make
