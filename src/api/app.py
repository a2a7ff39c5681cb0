"""The control plane's application factory. Nothing is built at import: `create_app(settings)` makes an app and
its lifespan builds the database engine (after migrating), the secret box and the connector registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from enrolsync import __version__
from enrolsync.api import openapi, problems
from enrolsync.api.deps import Services
from enrolsync.api.routes import connections, connectors, health, pipelines, runs
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.clients import ClientFactory
from enrolsync.sync.runs import RunQueue
from enrolsync.sync.store.crypto import SecretBox, load_or_create_keys
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade

log = structlog.get_logger("enrolsync.api")


class _TolerantQueue:
    """Wraps the job engine's queue: a run whose enqueue fails stays recorded as `queued`, and the worker
    enqueues every queued run it finds when it starts, so the request still succeeds (202) and nothing is lost."""

    def __init__(self, inner: RunQueue) -> None:
        self.inner = inner

    async def enqueue(self, run_id: str) -> None:
        try:
            await self.inner.enqueue(run_id)
        except Exception as error:  # the run is committed: the worker's start-up recovery picks it up
            log.warning("run.enqueue_failed", run_id=run_id, error=type(error).__name__)


@asynccontextmanager
async def _default_queue(settings: Settings) -> AsyncIterator[RunQueue]:
    # Imported here: the job engine is heavy and tests (which inject a queue) never need it.
    from enrolsync.sync.workflow import DbosRunQueue

    queue = DbosRunQueue(settings.resolved_system_database_url())
    try:
        yield _TolerantQueue(queue)
    finally:
        queue.close()


async def _build_services(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    registry: Registry | None,
    clients: ClientFactory | None,
    queue: RunQueue | None,
) -> Services:
    url = settings.resolved_database_url()
    # Alembic is blocking; a thread keeps the event loop free while several processes wait on the lock.
    await asyncio.to_thread(upgrade, url)
    engine = make_async_engine(url)
    stack.push_async_callback(engine.dispose)
    if queue is None:
        queue = await stack.enter_async_context(_default_queue(settings))
    return Services(
        engine=engine,
        sessions=session_factory(engine),
        box=SecretBox(load_or_create_keys(settings)),
        registry=registry if registry is not None else Registry.from_entry_points(),
        clients=clients if clients is not None else ClientFactory(),
        queue=queue,
    )


def create_app(
    settings: Settings,
    *,
    registry: Registry | None = None,
    clients: ClientFactory | None = None,
    queue: RunQueue | None = None,
) -> FastAPI:
    """Build the API. The lifespan migrates the database, then builds the services the routes use.

    Args:
        settings: the process settings (database URL, secret keys, allowed plain-http hosts).
        registry: the connectors to offer; default: every installed connector (entry points), loaded on start.
        clients: builds connectors for connection checks; tests inject fakes' transports here.
        queue: where requested runs are handed to the workers; default: the job engine's queue (DBOS).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            services = await _build_services(settings, stack, registry=registry, clients=clients, queue=queue)
            app.state.services = services
            log.info("api.started", connectors=len(services.registry.classes))
            yield

    app = FastAPI(
        title="enrolsync",
        version=__version__,
        summary="Sync people from HR systems into learning platforms.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    for module in (health, connectors, connections, pipelines, runs):
        app.include_router(module.router)
    openapi.install(app)
    return app
