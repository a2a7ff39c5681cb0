"""Fixtures shared by every test folder, one section each. Add a new section with its own header; keep each
fixture documented and the folder-specific ones in that folder's conftest.py."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
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
