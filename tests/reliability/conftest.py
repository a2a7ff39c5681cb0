"""Reliability fixtures: the session's `figures` (written to `.reliability.json` when the session ends), and the
API test fixtures of `tests/api/conftest.py` (an app on the `db` database, clients per role, the leak guard),
re-exported so the suite can drive the API as the API tests do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import (  # noqa: F401  (fixtures, registered by being here)
    anonymous,
    app,
    client,
    clock,
    ends,
    execute,
    leak_guard,
    make_client,
    memory,
    oidc_transport,
    queue,
    registry,
    runtime,
    session,
    settings,
    tokens,
)
from tests.reliability.figures import Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """The suite's running totals (see `figures.py`)."""
    collected = Figures()
    yield collected
    collected.write()
