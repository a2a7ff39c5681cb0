"""Engine and session factories for SQLite and PostgreSQL. Nothing is built at import: callers own the engines.

Users write plain URLs (`sqlite:///data/enrolsync.sqlite`, `postgresql://user@host/db`); this module picks the
drivers: aiosqlite / psycopg 3 for the application, the stdlib sqlite3 / psycopg 3 for Alembic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# How long a SQLite connection waits for another process's write lock (API and worker share the file).
SQLITE_BUSY_TIMEOUT_MS = 15_000

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def backend_name(url: str | URL) -> str:
    """The database family of a URL: `sqlite` or `postgresql`.

    Raises:
        ValueError: for any other database.
    """
    backend = make_url(url).get_backend_name()
    if backend == "postgres":  # Heroku-style alias some users still write
        backend = "postgresql"
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return backend


def async_url(url: str | URL) -> URL:
    """The URL with the async driver this project uses (`sqlite+aiosqlite`, `postgresql+psycopg`)."""
    return make_url(url).set(drivername=_ASYNC_DRIVERS[backend_name(url)])


def sync_url(url: str | URL) -> URL:
    """The URL with the blocking driver this project uses (stdlib `sqlite3`, `postgresql+psycopg`)."""
    return make_url(url).set(drivername=_SYNC_DRIVERS[backend_name(url)])


def is_memory_sqlite(url: str | URL) -> bool:
    """True for `sqlite://` and `sqlite:///:memory:`, which live in one connection and need a static pool."""
    parsed = make_url(url)
    return backend_name(parsed) == "sqlite" and parsed.database in (None, "", ":memory:")


def make_async_engine(url: str | URL, *, echo: bool = False) -> AsyncEngine:
    """Build the application's async engine.

    SQLite files get WAL journaling (readers do not block the writer), enforced foreign keys and a busy
    timeout; the file's folder is created if missing. In-memory SQLite shares one connection (for unit tests).

    Args:
        url: a plain URL as users write it, or one naming a driver (it is replaced).
        echo: log every statement (debugging only: statements may carry personal data).
    """
    target = async_url(url)
    # hide_parameters: a failed statement's error (logged, or shown in a traceback) would otherwise carry its
    # bound values, which are names, emails and encrypted secrets.
    engine = create_async_engine(target, echo=echo, hide_parameters=True, **_engine_options(target))
    if target.get_backend_name() == "sqlite":
        _configure_sqlite(engine.sync_engine, memory=is_memory_sqlite(target))
    return engine


def make_sync_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """Build a blocking engine (Alembic and other start-up tasks), configured like `make_async_engine`."""
    target = sync_url(url)
    engine = sa.create_engine(target, echo=echo, hide_parameters=True, **_engine_options(target))
    if target.get_backend_name() == "sqlite":
        _configure_sqlite(engine, memory=is_memory_sqlite(target))
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`. Objects stay readable after commit, so handlers can return them."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def dialect_insert(session: AsyncSession, model: type[SQLModel]) -> postgresql.Insert | sqlite.Insert:
    """An ORM-enabled INSERT for `model` offering `on_conflict_do_*` in the session's dialect (same API on both).

    `.returning(model)` on it yields model instances, refreshed in the session's identity map.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def row_values(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """The column values of a new `model` row for a Core INSERT: `values`, and each other field's default (its
    default factory called); exactly what `model(**values).model_dump()` gives, without building the instance.
    A field with no default that `values` leaves out is left out (the INSERT omits it, as with the instance).

    Building a table model costs milliseconds on a hot path (pydantic inspects each default factory's signature
    per instance); the fields' defaults are read once per model instead.

    Raises:
        TypeError: `values` names no field of `model`.
    """
    defaults = _defaults(model)
    unknown = values.keys() - defaults.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {sorted(unknown)}")
    row: dict[str, Any] = {}
    for name, default in defaults.items():
        if name in values:
            row[name] = values[name]
        elif default is not None:
            row[name] = default()
    return row


@cache
def _defaults(model: type[SQLModel]) -> dict[str, Callable[[], Any] | None]:
    """Per field of `model`, a callable making its default (None for a field without one), in field order."""
    made: dict[str, Callable[[], Any] | None] = {}
    for name, field in model.model_fields.items():
        factory = field.default_factory
        if factory is not None:
            if field.default_factory_takes_validated_data:  # none of ours does; such a field needs the instance
                raise TypeError(f"{model.__name__}.{name}'s default factory takes the validated data")
            made[name] = factory  # type: ignore[assignment]
        elif field.default is PydanticUndefined:
            made[name] = None
        else:
            made[name] = _constant(field.default)
    return made


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() != "sqlite":
        # Connections dropped by a PostgreSQL restart are replaced instead of failing the next request.
        return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
    if is_memory_sqlite(url):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    private_sqlite_file(url)
    # sqlite3's own busy wait (seconds) covers the first statement on a fresh connection, the PRAGMA covers the rest.
    return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}


def private_sqlite_file(url: str | URL) -> None:
    """Make a SQLite database's folder (mode 0700, when it is new) and file (mode 0600) before SQLite does: they
    hold personal data. SQLite gives its -wal and -shm files the database file's mode. Other URLs: nothing."""
    parsed = make_url(url) if isinstance(url, str) else url
    if backend_name(parsed) != "sqlite" or is_memory_sqlite(parsed):
        return
    path = Path(parsed.database or "").expanduser().resolve()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)  # a file made by an older version (0644) is narrowed too


def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
    locked_error: type[Exception] = engine.dialect.loaded_dbapi.OperationalError

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                _enable_wal(cursor, locked_error)
                # NORMAL is durable across application crashes in WAL mode; only a power loss may drop the last commit.
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _enable_wal(cursor: Any, locked_error: type[Exception]) -> None:
    # WAL is a property of the file: once set, every later connection finds it and skips the switch.
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    # The switch itself fails at once, without honouring the busy timeout, while another connection holds a lock
    # on the new file (the API and the worker starting together). That only happens on a brand-new file, during
    # the start-up migration, so a short blocking retry is harmless.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except locked_error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
