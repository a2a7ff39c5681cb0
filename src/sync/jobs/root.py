"""The composition root: the long-lived parts of one process, built from `Settings` in one place.

The API, the worker, the command line and the benchmarks all execute against the same things: the database
(migrated first), its session factory, the secret box with its keys, the connector registry, the client factory
and the `Runtime` that ties them together. They get them from `open_root`, and close them with the `Root` it
returns; each caller adds only what is its own (the API its run queue and OIDC verifier, the worker its durable
engine and maintenance loop).

Tests and the benchmarks inject what they replace (registry, client factory with fakes' transports, clock).
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from functools import partial
from types import TracebackType

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.egress import EgressPolicy
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.run.mail import SmtpMailer
from enrolsync.sync.run.uploads import StoredUploadTransport
from enrolsync.sync.store.crypto import KEY_FILE_NAME, SecretBox, load_or_create_keys
from enrolsync.sync.store.db import (
    backend_name,
    is_memory_sqlite,
    make_async_engine,
    private_sqlite_file,
    session_factory,
)
from enrolsync.sync.store.migrate import upgrade
from enrolsync.sync.store.tables import Connection

log = structlog.get_logger("enrolsync.root")


@dataclass
class Root:
    """What `open_root` built. `close()` (or leaving `async with`) releases the database pool."""

    engine: AsyncEngine
    runtime: Runtime

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Root:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


def worker_id(settings: Settings) -> str:
    """This process's name on the runs it holds: the configured one, else host name and process id."""
    return settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"


async def open_root(
    settings: Settings,
    *,
    registry: Registry | None = None,
    clients: ClientFactory | None = None,
    clock: Clock = SYSTEM_CLOCK,
    migrate: bool = True,
) -> Root:
    """Build the process's long-lived parts from `settings`.

    Args:
        settings: database URL, secret keys (or the data folder holding the key file), worker id and lease.
        registry: the connectors to use; default: every installed connector (entry points).
        clients: builds connectors for connections; default: real transports, paced by `clock`.
        clock: what limiters and read retries sleep through; tests pass a fake one.
        migrate: bring the database to the newest schema first (off for a command that only reads it).

    Raises:
        ValueError: the database URL is not SQLite or PostgreSQL, the key file holds no key, or the database is
            PostgreSQL and no keys are configured.
    """
    url = settings.resolved_database_url()
    if backend_name(url) == "postgresql" and not settings.secret_keys:
        # A key file is per machine and per working directory: processes sharing a PostgreSQL database would each
        # make their own and fail to read one another's secrets.
        raise ValueError(
            "ENROLSYNC_SECRET_KEYS must be set when the database is PostgreSQL (every process sharing it needs the "
            "same keys); make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    for database in {url, settings.resolved_system_database_url()}:
        private_sqlite_file(database)  # before SQLite or the job engine makes them world-readable
    if migrate:
        # Alembic blocks; a thread keeps the event loop free while several processes wait on the migration lock.
        await asyncio.to_thread(upgrade, url)
    box = SecretBox(load_or_create_keys(settings))
    engine = make_async_engine(url)
    clients = clients if clients is not None else ClientFactory(clock=clock)
    # The admin's allow-list joins whatever the caller's factory admits (tests and the demo add their fakes).
    clients.egress = EgressPolicy([*clients.egress.allowed, *settings.allowed_private_hosts], clients.egress.resolve)
    runtime = Runtime(
        sessions=session_factory(engine),
        registry=registry if registry is not None else Registry.from_entry_points(),
        box=box,
        clients=clients,
        clock=clock,
        owner=worker_id(settings),
        lease_seconds=settings.run_lease_seconds,
        batches_in_flight=1 if is_memory_sqlite(url) else 4,
        mailer=SmtpMailer.from_settings(settings),
    )
    clients.stored.setdefault("scim-inbound", partial(_scim_transport, runtime.sessions))
    clients.stored.setdefault("csv", partial(StoredUploadTransport, runtime.sessions))  # files uploaded to the API
    await _report_unreadable_secrets(runtime.sessions, box, settings)
    return Root(engine=engine, runtime=runtime)


def _scim_transport(sessions: async_sessionmaker[AsyncSession], connection_id: str) -> httpx.AsyncBaseTransport:
    """The stored SCIM state of `connection_id`. Imported when a pipeline first reads one: scim2_models (~6 MB of a
    worker's memory) is needed only by pipelines whose source is an inbound SCIM connection."""
    from enrolsync.sync.run.scim_state import StoredScimTransport  # noqa: PLC0415 - lazy: see above

    return StoredScimTransport(sessions, connection_id)


async def _report_unreadable_secrets(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, settings: Settings
) -> None:
    """Say in one line, at start, when the keys cannot open the stored secrets; otherwise the first sign is a run
    failing with `SecretsUndecryptable` (a worker started in another folder made its own key file)."""
    try:
        async with sessions() as session:
            tokens = (await session.exec(select(Connection.secrets).where(col(Connection.secrets) != ""))).all()
    except SQLAlchemyError:
        return  # not migrated yet (a read-only open of a fresh database): nothing stored to open
    unreadable = sum(1 for token in tokens if not box.opens(token))
    if unreadable:
        source = (
            "ENROLSYNC_SECRET_KEYS" if settings.secret_keys else f"the key file {settings.data_dir / KEY_FILE_NAME}"
        )
        log.error(
            f"the secret keys ({source}) cannot decrypt the stored secrets of {unreadable} of {len(tokens)} "
            "connection(s): set ENROLSYNC_SECRET_KEYS to the keys that encrypted them, or enter the secrets again"
        )
