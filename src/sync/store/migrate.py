"""Apply the Alembic migrations in `migrations/` from code: on start (API and worker) and by `enrolsync migrate`.

No alembic.ini is read: the script location is this package's folder and the connection is handed to `env.py`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from enrolsync.sync.store.db import make_sync_engine

# resolve(): in a strict editable install this file is a link into src/, and new versions must land there.
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

# Any constant works; it only has to be the same in every process that migrates this database.
_PG_MIGRATION_LOCK = 7_362_049_113


class MigrationError(RuntimeError):
    """The database could not be brought to the current schema."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The migration a database is at, or None for a database never migrated."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def new_revision(url: str, message: str) -> Path:
    """Write a new version for the changes in `tables.py` (for developers); returns the new file.

    Args:
        url: a scratch database; it is first upgraded to the newest version, then compared with the models.
    """
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            script = command.revision(alembic_config(conn), message=message, autogenerate=True)
    finally:
        engine.dispose()
    if script is None or isinstance(script, list):
        raise MigrationError("alembic wrote no single new version")
    return Path(script.path)


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema. Idempotent; safe when several processes start at once.

    Concurrent callers are serialised by a lock (an advisory lock on PostgreSQL, the write lock on SQLite), so
    the second finds the work done. The whole upgrade is one transaction on both databases.

    Args:
        url: a plain database URL (`sqlite:///path`, `postgresql://user@host/db`).

    Raises:
        MigrationError: a SQLite upgrade would leave rows pointing at missing parents.
    """
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                _upgrade_sqlite(conn)
            else:
                _upgrade_postgresql(conn)
    finally:
        engine.dispose()


def _upgrade_postgresql(conn: Connection) -> None:
    with conn.begin():
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        command.upgrade(alembic_config(conn), "head")


def _upgrade_sqlite(conn: Connection) -> None:
    # Batch mode recreates tables; with foreign keys enforced, dropping a parent's old copy would cascade or
    # fail. The pragma only takes effect outside a transaction, so it is set first and checked at the end.
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    # The stdlib driver issues no BEGIN before DDL: take the write lock explicitly, which also makes the DDL
    # transactional and makes a second process wait (busy timeout) until this one has committed.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        command.upgrade(alembic_config(conn), "head")
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise MigrationError(f"migration left {len(broken)} rows with a missing parent; rolled back")
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
