"""Dependencies of the route handlers, as `Annotated` aliases (`SessionDep`, `RegistryDep`, ...).

Everything is built by `create_app` and its lifespan and kept in `app.state`; nothing here is global, so a test
app gets its own database, registry, client factory and queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.oidc import OidcVerifier
from enrolsync.api.queries import MAX_LIMIT
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.jobs.events import Rounds
from enrolsync.sync.jobs.run_requests import RunQueue
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import SecretBox
from enrolsync.sync.store.tables import utcnow


@dataclass(frozen=True)
class Services:
    """What the lifespan builds: one per app, closed when the app stops. The first four come from the
    composition root (`sync.jobs.root`), shared with the worker and the command line."""

    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    registry: Registry
    clients: ClientFactory
    queue: RunQueue
    oidc: OidcVerifier | None = None
    now: Callable[[], datetime] = field(default=utcnow)
    dispatches: Rounds = field(default_factory=Rounds)  # webhook calls share dispatch rounds (`events.Rounds`)


def services(request: Request) -> Services:
    """The app's services; only present while the lifespan runs."""
    built: Services = request.app.state.services
    return built


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with services(request).sessions() as session:
        yield session


def _registry(request: Request) -> Registry:
    return services(request).registry


def _box(request: Request) -> SecretBox:
    return services(request).box


def _clients(request: Request) -> ClientFactory:
    return services(request).clients


def _queue(request: Request) -> RunQueue:
    return services(request).queue


def _dispatches(request: Request) -> Rounds:
    return services(request).dispatches


def _now(request: Request) -> Callable[[], datetime]:
    return services(request).now


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
RegistryDep = Annotated[Registry, Depends(_registry)]
BoxDep = Annotated[SecretBox, Depends(_box)]
ClientsDep = Annotated[ClientFactory, Depends(_clients)]
QueueDep = Annotated[RunQueue, Depends(_queue)]
ClockDep = Annotated[Callable[[], datetime], Depends(_now)]
DispatchesDep = Annotated[Rounds, Depends(_dispatches)]

AfterQuery = Annotated[str | None, Query(max_length=64, description="The `next` cursor of the previous page.")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
