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
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.crypto import SecretBox, load_or_create_keys
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade


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
        ValueError: the database URL is not SQLite or PostgreSQL, or the key file holds no key.
    """
    url = settings.resolved_database_url()
    if migrate:
        # Alembic blocks; a thread keeps the event loop free while several processes wait on the migration lock.
        await asyncio.to_thread(upgrade, url)
    box = SecretBox(load_or_create_keys(settings))
    engine = make_async_engine(url)
    runtime = Runtime(
        sessions=session_factory(engine),
        registry=registry if registry is not None else Registry.from_entry_points(),
        box=box,
        clients=clients if clients is not None else ClientFactory(clock=clock),
        clock=clock,
        owner=worker_id(settings),
        lease_seconds=settings.run_lease_seconds,
    )
    return Root(engine=engine, runtime=runtime)
