"""The databases tests run on: what the `db` fixture hands a test, and the private PostgreSQL database behind it.

Others run suites on the same PostgreSQL server at the same time, so each pytest session makes a database of its
own, migrates it once, empties it before every test and drops it at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store import tables  # noqa: F401  (fills SQLModel.metadata, used to empty the tables)
from enrolsync.sync.store.migrate import upgrade

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
class PostgresDatabase:
    """One session's private, migrated PostgreSQL database and an autocommit connection to empty it with."""

    url: str
    admin: psycopg.Connection[tuple[object, ...]]
    tables: tuple[str, ...]  # children before parents, so deleting in this order satisfies foreign keys

    def empty(self) -> None:
        """Delete every row (DELETE beats TRUNCATE by an order of magnitude on tables this small)."""
        with self.admin.transaction():
            for table in self.tables:
                self.admin.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))


def postgres_server() -> URL:
    """The server to make test databases on: `ENROLSYNC_TEST_POSTGRES_URL`, else the local default."""
    return make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)).set(drivername="postgresql")


@contextmanager
def private_database(server: psycopg.Connection[tuple[object, ...]], base: URL) -> Iterator[PostgresDatabase]:
    """Create a migrated database under a unique name on `server`; drop it (forcing others out) when done."""
    name = f"enrolsync_test_{os.getpid()}_{secrets.token_hex(4)}"
    server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    # A throwaway database need not wait for each commit to reach the disk: the suite runs several times faster.
    server.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        with psycopg.connect(url, autocommit=True) as admin:
            present = {row[0] for row in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            ordered = [table.name for table in reversed(SQLModel.metadata.sorted_tables) if table.name in present]
            yield PostgresDatabase(url=url, admin=admin, tables=tuple(ordered))
    finally:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
