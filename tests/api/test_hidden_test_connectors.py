"""The in-memory test connectors are not offered to an admin unless a setting says so (issue 17)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from enrolsync.settings import Settings
from tests.support.api import app_settings
from tests.support.database import Database


@pytest.fixture
def settings(db: Database, tmp_path: Path, private_hosts: list[str]) -> Settings:
    """Production's default: ENROLSYNC_SHOW_TEST_CONNECTORS unset."""
    return app_settings(db, tmp_path, allowed_private_hosts=private_hosts, show_test_connectors=False)


def test_the_setting_is_off_by_default() -> None:
    assert Settings.model_fields["show_test_connectors"].default is False


async def test_memory_connectors_are_not_listed(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/connectors")).json()["items"]
    assert listed == []  # this app has only the memory connectors and one built on them
    assert (await client.get("/connectors/memory-source")).status_code == 404
    assert (await client.get("/connectors/strict-source")).status_code == 404
