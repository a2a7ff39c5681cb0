"""Engine fixtures: a pipeline from a memory source to a memory target on the `db` fixture's database
(`tests/support/harness.py`)."""

from __future__ import annotations

import pytest

from tests.support.database import Database
from tests.support.harness import Engine, make_engine, seed_staff


@pytest.fixture
async def engine(db: Database) -> Engine:
    """The default rules over four people: 1 leads 2, 3 (Engineering) and 4 (Sales)."""
    built = await make_engine(db)
    seed_staff(built)
    return built
