"""What a run needs to know, loaded from the database: the run, the pipeline version it uses, both connectors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import Connector, ConnectorClass, ConnectorConfig, SourceConnector, TargetConnector
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.registry import Registry
from enrolsync.sync.rules.spec import PipelineSpec, parse_spec
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.crypto import SecretBox
from enrolsync.sync.store.tables import Connection, Pipeline, PipelineVersion, Run


def _utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Runtime:
    """The long-lived parts a worker executes runs with (built once per process)."""

    sessions: async_sessionmaker[AsyncSession]
    registry: Registry
    box: SecretBox
    clients: ClientFactory = field(default_factory=ClientFactory)
    today: Callable[[], date] = _utc_today
    clock: Clock = SYSTEM_CLOCK
    max_attempts: int = 3
    chunk: int = 500
    # Batches of one kind sent at once (each target's `max_concurrency` bounds it too). One for an in-memory
    # SQLite database, whose sessions share a single connection.
    batches_in_flight: int = 4
    owner: str = "local"  # this worker's id, written on the runs it holds
    lease_seconds: float = 30.0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set on SIGTERM: finish the batch, hand over


C = TypeVar("C", bound=Connector)


@dataclass(frozen=True)
class Side(Generic[C]):
    """One end of the pipeline: its connector class (a source or a target) and the connection's config."""

    cls: ConnectorClass[C]
    config: ConnectorConfig
    connection_id: str | None = None  # labels the connection's gauges


@dataclass(frozen=True)
class RunContext:
    run_id: str
    pipeline_id: str
    mode: str
    scope: str
    hr_ids: tuple[str, ...]
    spec: PipelineSpec
    source: Side[SourceConnector]
    target: Side[TargetConnector]
    target_connection_id: str = ""  # pipelines on the same connection write to the same accounts


class RunGone(LookupError):
    """The run (or its pipeline or a connection) no longer exists."""


async def _connection(session: AsyncSession, connection_id: str) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise RunGone(f"connection {connection_id} is gone")
    return connection


def _side(rt: Runtime, connection: Connection, cls: ConnectorClass[C]) -> Side[C]:
    config = load_config(cls.info.config_model, connection.config, connection.secrets, rt.box)
    return Side(cls=cls, config=config, connection_id=connection.id)


async def load_context(rt: Runtime, run_id: str) -> RunContext:
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            raise RunGone(f"run {run_id} is gone")
        pipeline = await session.get(Pipeline, run.pipeline_id)
        version = await session.get(PipelineVersion, (run.pipeline_id, run.pipeline_version))
        if pipeline is None or version is None:
            raise RunGone(f"pipeline {run.pipeline_id} v{run.pipeline_version} is gone")
        source = await _connection(session, pipeline.source_id)
        target = await _connection(session, pipeline.target_id)
        return RunContext(
            run_id=run.id,
            pipeline_id=pipeline.id,
            mode=run.mode,
            scope=run.scope,
            hr_ids=tuple(run.hr_ids),
            spec=parse_spec(version.spec),
            source=_side(rt, source, rt.registry.source(source.connector)),
            target=_side(rt, target, rt.registry.target(target.connector)),
            target_connection_id=target.id,
        )
