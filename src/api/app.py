"""The control plane's application factory. Nothing is built at import: `create_app(settings)` makes an app and
its lifespan opens the process's composition root (`sync.jobs.root`: database after migrating, secret box,
connector registry, client factory), then adds the run queue and the OIDC verifier.

Routers come in two groups: `PUBLIC_ROUTERS` answer without a token (health; webhooks, which prove themselves
with the HR system's signature), every other router is mounted behind the bearer-token check and each of its
routes must declare the role it needs (`auth.ensure_roles` refuses to build the app otherwise).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline

from enrolsync import __version__
from enrolsync.api import auth, openapi, problems, scim_wire
from enrolsync.api.deps import Services
from enrolsync.api.inputs import refuse_unstorable_text
from enrolsync.api.limits import BodyLimit
from enrolsync.api.oidc import OidcConfig, OidcVerifier
from enrolsync.api.routes import (
    audit,
    connections,
    connectors,
    events,
    health,
    insights,
    metrics,
    people,
    pipelines,
    quarantine,
    run_control,
    runs,
    scim,
    uploads,
    webhooks,
)
from enrolsync.api.ui.routes import install as install_ui
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.jobs.root import open_root
from enrolsync.sync.jobs.run_requests import RunQueue
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.quarantine import PipelineQuarantined
from enrolsync.sync.store.tables import utcnow

log = structlog.get_logger("enrolsync.api")

# Answer without a bearer token. Add webhook routers here: they authenticate each call by its signature.
PUBLIC_ROUTERS: tuple[APIRouter, ...] = (health.router, metrics.router, webhooks.router, scim.router)
# Behind the bearer token; each route declares its role (auth.Viewer / Operator / Admin or auth.require).
PROTECTED_ROUTERS: tuple[APIRouter, ...] = (
    connectors.router,
    connections.router,
    uploads.router,
    pipelines.router,
    runs.router,
    run_control.router,
    people.router,
    people.teams_router,
    insights.router,
    audit.router,
    events.router,
    quarantine.router,
    scim.admin_router,
)


class _TolerantQueue:
    """Wraps the job engine's queue: a run whose enqueue fails stays recorded as `queued`, and the worker
    enqueues queued runs it finds without a workflow, so the request still succeeds (202) and nothing is lost."""

    def __init__(self, inner: RunQueue) -> None:
        self.inner = inner

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        try:
            await self.inner.enqueue(run_id, generation=generation)
        except Exception as error:  # the run is committed: the worker's maintenance loop enqueues it
            log.warning("run.enqueue_failed", run_id=run_id, error=type(error).__name__)


@asynccontextmanager
async def default_queue(settings: Settings) -> AsyncIterator[RunQueue]:
    # Imported here: the job engine is heavy and tests (which inject a queue) never need it.
    from enrolsync.sync.jobs.workflow import DbosRunQueue

    queue = DbosRunQueue(settings.resolved_system_database_url())
    try:
        yield _TolerantQueue(queue)
    finally:
        queue.close()


async def _oidc(
    settings: Settings, stack: AsyncExitStack, transport: httpx.AsyncBaseTransport | None, now: Callable[[], datetime]
) -> OidcVerifier | None:
    config = OidcConfig.from_settings(settings)
    if config is None:
        return None
    http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, timeout=10.0))
    return OidcVerifier(config, http, now=now)


async def _build_services(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    registry: Registry | None,
    clients: ClientFactory | None,
    queue: RunQueue | None,
    oidc_transport: httpx.AsyncBaseTransport | None,
    now: Callable[[], datetime],
) -> Services:
    root = await stack.enter_async_context(await open_root(settings, registry=registry, clients=clients))
    if queue is None:
        queue = await stack.enter_async_context(default_queue(settings))
    runtime = root.runtime
    return Services(
        sessions=runtime.sessions,
        box=runtime.box,
        registry=runtime.registry,
        clients=runtime.clients,
        queue=queue,
        oidc=await _oidc(settings, stack, oidc_transport, now),
        now=now,
    )


def create_app(
    settings: Settings,
    *,
    registry: Registry | None = None,
    clients: ClientFactory | None = None,
    queue: RunQueue | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
    now: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """Build the API. The lifespan migrates the database, then builds the services the routes use.

    Args:
        settings: the process settings (database URL, secret keys, allowed plain-http hosts).
        registry: the connectors to offer; default: every installed connector (entry points), loaded on start.
        clients: builds connectors for connection checks; tests inject fakes' transports here.
        queue: where requested runs are handed to the workers; default: the job engine's queue (DBOS).
        oidc_transport: how the OIDC issuer's discovery document and keys are fetched; tests serve them locally.
        now: the clock (token expiry, dry-run age, people's "today"); tests pin it.

    Raises:
        RuntimeError: a protected route declares no role.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            services = await _build_services(
                settings,
                stack,
                registry=registry,
                clients=clients,
                queue=queue,
                oidc_transport=oidc_transport,
                now=now,
            )
            app.state.services = services
            log.info("api.started", connectors=len(services.registry.classes))
            yield

    # Swagger UI (/docs) and ReDoc (/redoc) from the assets fastapi-offline ships: they work with no network.
    app = FastAPIOffline(
        title="enrolsync",
        version=__version__,
        summary="Sync people from HR systems into learning platforms.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.add_exception_handler(PipelineQuarantined, quarantine.on_quarantined)
    scim_wire.install(app)  # SCIM errors in SCIM's format, on the /scim/v2 routes only
    app.add_middleware(BodyLimit)
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in PROTECTED_ROUTERS:
        auth.ensure_roles(router.routes)
        app.include_router(
            router,
            dependencies=[Depends(auth.current_principal), Depends(refuse_unstorable_text)],
            responses=problems.problem_responses(401, 403),
        )
    openapi.install(app)
    install_ui(app)  # the web page at /ui (its own session cookie and role checks: see api/ui/session.py)
    app.add_api_route("/", _home, include_in_schema=False)
    return app


async def _home() -> RedirectResponse:
    """Where a person opening the service's address lands: the web page."""
    return RedirectResponse("/ui", status_code=307)
