"""Scenario fixtures: BambooHR fake -> the real run engine -> Moodle fake, on the `db` fixture's database
(`tests/support/systems.py`). Each scenario asserts the exact operations a run planned and what the fake Moodle
site holds afterwards."""

from __future__ import annotations

import pytest

from tests.support.database import Database
from tests.support.systems import Systems, make_scenario


@pytest.fixture
async def scenario(db: Database) -> Systems:
    """An empty company and an empty Moodle site with the four courses, under the default spec."""
    return await make_scenario(db)
