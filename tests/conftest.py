"""Fixtures shared by every test folder, one section each. Add a new section with its own header; keep each
fixture documented and the folder-specific ones in that folder's conftest.py. What the fixtures are built from
lives in `tests/support/`; this file holds fixtures and hooks only."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from enrolsync.connectors.memory.state import DATASETS
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade
from tests.support.database import POSTGRES_URL_ENV, Database, PostgresDatabase, postgres_server, private_database
from tests.support.leaks import LeakGuard, keep_sweep_installed, sweep_report

# The API test rig (an app on the `db` database, clients per role, the leak guard): tests/api and
# tests/reliability both drive the API, and a conftest is never imported as a library, so it is a plugin.
pytest_plugins = ["tests.support.api_fixtures"]

# --- databases: `db` runs a test on SQLite and on PostgreSQL ----------------------------------------------------
#
# SQLite: a fresh file per test in tmp_path, copied from one migrated once per session.
# PostgreSQL: a private database per pytest session (see tests/support/database.py), migrated once, emptied
# before every test, dropped at the end. Where it is unreachable the postgresql half is skipped with the reason,
# except in CI (env CI set), where that is an error.


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "enrolsync.sqlite"
    upgrade(f"sqlite:///{path}")
    # upgrade() disposed its engine: the last connection closing folded the WAL into the file, so it copies whole.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresDatabase]:
    base = postgres_server()
    try:
        server = psycopg.connect(base.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL unreachable at {base.render_as_string()} (set {POSTGRES_URL_ENV}): {error}".strip()
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with server, private_database(server, base) as postgres:
        yield postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The plain URL of a migrated database with empty tables: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "enrolsync.sqlite"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    postgres: PostgresDatabase = request.getfixturevalue("_postgres")
    postgres.empty()
    return postgres.url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database with empty tables and an async engine on it, once on SQLite and once on PostgreSQL."""
    engine = make_async_engine(db_url)
    try:
        yield Database(
            kind=make_url(db_url).get_backend_name(), url=db_url, engine=engine, sessions=session_factory(engine)
        )
    finally:
        await engine.dispose()


# --- memory systems: datasets a test made are forgotten after it -----------------------------------------------


@pytest.fixture
def cleanup_datasets() -> Iterator[None]:
    """Drop the in-memory HR and LMS datasets the test created (`make_engine` makes one per engine)."""
    before = set(DATASETS)
    yield
    for name in set(DATASETS) - before:
        DATASETS.pop(name, None)


# --- secret sweep (issue 7): no known test secret in any log line or captured output of the whole session -------
#
# A find fails the test it happened in, naming the secret and where it was seen (tests/support/leaks.py).


@pytest.fixture(autouse=True)
def _secret_sweep() -> None:
    """Keep the sweep in the logging paths (a test may have reconfigured logging since the last one)."""
    keep_sweep_installed()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    guard = (getattr(item, "funcargs", None) or {}).get("leak_guard")
    at_teardown = call.when == "teardown" and isinstance(guard, LeakGuard)
    found = sweep_report(report.sections, guard if at_teardown else None)
    if found:
        report.outcome = "failed"
        report.longrepr = "secrets leaked into logs or output:\n" + "\n".join(found[:20])
    return report
