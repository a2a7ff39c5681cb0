"""Engines: URL handling, SQLite set-up for several processes, sessions that keep objects readable."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from enrolsync.sync.store.db import async_url, make_async_engine, make_sync_engine, session_factory, sync_url
from enrolsync.sync.store.tables import Connection
from tests.support.database import Database


@pytest.mark.parametrize(
    ("url", "async_driver", "sync_driver"),
    [
        ("sqlite:///data/app.sqlite", "sqlite+aiosqlite", "sqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgresql+psycopg2://u:pw@h:5433/db", "postgresql+psycopg", "postgresql+psycopg"),
    ],
)
def test_plain_urls_get_this_projects_drivers(url: str, async_driver: str, sync_driver: str) -> None:
    assert async_url(url).drivername == async_driver
    assert sync_url(url).drivername == sync_driver
    assert async_url(url).database == sa.make_url(url).database


def test_other_databases_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        make_async_engine("mysql://u@h/db")


async def test_sqlite_file_folder_is_created_and_tuned_for_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite"
    engine = make_async_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert path.exists()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert int(pragmas["busy_timeout"] or 0) >= 5000


def test_sync_engine_enforces_foreign_keys_on_sqlite(tmp_path: Path) -> None:
    engine = make_sync_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


async def test_objects_stay_readable_after_commit_and_other_engines_see_them(db: Database) -> None:
    async with db.sessions() as session:
        connection = Connection(name="hr", connector="memory-source", config={"dataset": "x"})
        session.add(connection)
        await session.commit()
    # Read after the session closed: no lazy refresh is needed (expire_on_commit=False).
    assert connection.name == "hr"
    # A second engine, as the worker process would have, sees the committed row.
    other = make_async_engine(db.url)
    try:
        async with session_factory(other)() as session:
            found = (await session.exec(select(Connection))).one()
    finally:
        await other.dispose()
    assert found.id == connection.id
    assert found.created_at.tzinfo is not None
