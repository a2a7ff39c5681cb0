"""Fixtures shared by every test folder, one section each. Add a new section with its own header; keep each
fixture documented and the folder-specific ones in that folder's conftest.py."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store import tables  # noqa: F401  (fills SQLModel.metadata, used to empty the tables)
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade

# --- databases: `db` runs a test on SQLite and on PostgreSQL ----------------------------------------------------
#
# SQLite: a fresh file per test in tmp_path, copied from one migrated once per session.
# PostgreSQL: a private database per pytest session (others run suites on the same server at the same time),
# migrated once, emptied before every test, dropped at the end. Where it is unreachable the postgresql half is
# skipped with the reason, except in CI (env CI set), where that is an error.

POSTGRES_URL_ENV = "ENROLSYNC_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Database:
    """A migrated database with empty tables, for one test."""

    kind: str  # "sqlite" or "postgresql"
    url: str  # plain, as a user writes it: sqlite:///... or postgresql://...
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class _PostgresDatabase:
    url: str
    admin: psycopg.Connection[tuple[object, ...]]
    tables: tuple[str, ...]  # children before parents, so deleting in this order satisfies foreign keys


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "enrolsync.sqlite"
    upgrade(f"sqlite:///{path}")
    # upgrade() disposed its engine: the last connection closing folded the WAL into the file, so it copies whole.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_PostgresDatabase]:
    base = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)).set(drivername="postgresql")
    try:
        server = psycopg.connect(base.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL unreachable at {base.render_as_string()} (set {POSTGRES_URL_ENV}): {error}".strip()
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    name = f"enrolsync_test_{os.getpid()}_{secrets.token_hex(4)}"
    with server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # A throwaway database need not wait for each commit to reach the disk: the suite runs several times faster.
        server.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
        try:
            url = base.set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            with psycopg.connect(url, autocommit=True) as admin:
                present = {
                    row[0] for row in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                }
                ordered = [table.name for table in reversed(SQLModel.metadata.sorted_tables) if table.name in present]
                yield _PostgresDatabase(url=url, admin=admin, tables=tuple(ordered))
        finally:
            server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The plain URL of a migrated database with empty tables: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "enrolsync.sqlite"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    postgres: _PostgresDatabase = request.getfixturevalue("_postgres")
    # DELETE beats TRUNCATE by an order of magnitude on tables this small.
    with postgres.admin.transaction():
        for table in postgres.tables:
            postgres.admin.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
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


# --- secret sweep (issue 7): no known test secret in any log line or captured output of the whole session -------
#
# Every standard-library log record and structlog event the suite produces, whatever the level and whoever
# configured logging, and every test's captured stdout, stderr and log text are searched for the secrets the
# tests use (`SECRETS`, plus any a test adds with `watch_secret`). A find fails the test it happened in, naming
# the secret and where it was seen. `tests/api/conftest.py`'s `LeakGuard` does the same per API test for
# response bodies and the bearer tokens it mints; this sweep covers every other test and every log path.

SECRETS: list[str] = [
    "s3cret",  # tests/api's LEAK_MARKER: every secret value with it in its name
    "fake-api-key",
    "fake-moodle-token",
    "fake-webhook-private-key",
    "e2e-bamboohr-key",
    "e2e-moodle-token",
    "demo-moodle-token",
    "crash-token",
    "scenario-bamboohr-key",
    "scenario-moodle-token",
    "hr-webhook-secret-8812",
]


class SecretSweep:
    """Finds watched secrets (case-insensitively) in text and remembers where each was seen."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.found: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._compiled_for: tuple[str, ...] = ()

    def watch(self, secret: str) -> None:
        if len(secret) >= 6 and secret not in self.secrets:  # shorter strings match by chance, not by leaking
            self.secrets.append(secret)

    def scan(self, text: str, where: str) -> None:
        if tuple(self.secrets) != self._compiled_for:
            self._compiled_for = tuple(self.secrets)
            self._pattern = re.compile("|".join(re.escape(s) for s in self.secrets), re.IGNORECASE)
        assert self._pattern is not None  # noqa: S101 - compiled just above
        match = self._pattern.search(text)
        if match is not None:
            start = max(match.start() - 60, 0)
            self.found.append(f"{match.group(0)!r} in {where}: ...{text[start : match.end() + 60]!r}...")

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


SWEEP = SecretSweep(SECRETS)


def watch_secret(secret: str) -> None:
    """Add a secret a test uses to the session's sweep."""
    SWEEP.watch(secret)


class _SweepHandler(logging.Handler):
    """On the root logger: sees every standard-library record that reaches it, at any level."""

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.getMessage()} {record.__dict__.get('args')!r} {record.exc_text or ''}"
        SWEEP.scan(text, f"log record {record.name}")


class _SweptLogger:
    """Wraps whatever logger structlog's factory makes: each call's arguments are searched, then passed on."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            SWEEP.scan(f"{args!r} {kwargs!r}", f"structlog event ({name})")
            return method(*args, **kwargs)

        return call


class _SweptFactory:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any) -> _SweptLogger:
        return _SweptLogger(self.inner(*args))


_HANDLER = _SweepHandler(level=logging.NOTSET)


@pytest.fixture(autouse=True)
def _secret_sweep() -> None:
    """Keep the sweep in the logging paths (a test may have reconfigured logging since the last one)."""
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    factory = structlog.get_config()["logger_factory"]
    if not isinstance(factory, _SweptFactory):
        structlog.configure(logger_factory=_SweptFactory(factory))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    for title, text in report.sections:
        SWEEP.scan(text, title)
    guard = (getattr(item, "funcargs", None) or {}).get("leak_guard")
    if call.when == "teardown" and guard is not None:
        # API tests send structlog events to their LeakGuard instead of the logger: search those too, and the
        # response bodies it kept, for every secret of the sweep (the guard itself knows only its own).
        for entry in getattr(guard.structlog, "entries", []):
            SWEEP.scan(repr(entry), "structlog event (LeakGuard)")
        for body in getattr(guard, "bodies", []):
            SWEEP.scan(body, "response body (LeakGuard)")
    found = SWEEP.take()
    if found:
        report.outcome = "failed"
        report.longrepr = "secrets leaked into logs or output:\n" + "\n".join(found[:20])
    return report
