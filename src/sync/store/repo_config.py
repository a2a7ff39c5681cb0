"""Connections and pipelines (with their versions): what an admin configures. Import through `repo`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import (
    ACTIVE_RUN_STATUSES,
    Checkpoint,
    Connection,
    Event,
    Link,
    Pipeline,
    PipelineVersion,
    Run,
    RunOp,
    ScheduleState,
    utcnow,
)

DEFAULT_LIMIT = 100


class InUseError(Exception):
    """The row is still needed: a connection by a pipeline, or a pipeline by a queued or running run."""


# --- connections -------------------------------------------------------------------------------------------


async def create_connection(
    session: AsyncSession, *, name: str, connector: str, config: Mapping[str, Any], secrets: str = ""
) -> Connection:
    """Add a connection. `secrets` is the token from `SecretBox.encrypt`, never plain text.

    Raises:
        sqlalchemy.exc.IntegrityError: the name is taken (at flush; on PostgreSQL the transaction is then lost).
    """
    connection = Connection(name=name, connector=connector, config=dict(config), secrets=secrets)
    session.add(connection)
    await session.flush()
    return connection


async def get_connection(session: AsyncSession, *, connection_id: str) -> Connection | None:
    return await session.get(Connection, connection_id)


async def get_connection_by_name(session: AsyncSession, *, name: str) -> Connection | None:
    return (await session.exec(select(Connection).where(Connection.name == name))).first()


async def list_connections(
    session: AsyncSession, *, connector: str | None = None, after: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[Connection]:
    """Connections ordered by id; pass the last id of a page as `after` for the next one."""
    stmt = select(Connection).order_by(col(Connection.id)).limit(limit)
    if connector is not None:
        stmt = stmt.where(Connection.connector == connector)
    if after is not None:
        stmt = stmt.where(col(Connection.id) > after)
    return list((await session.exec(stmt)).all())


async def update_connection(
    session: AsyncSession,
    *,
    connection_id: str,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    secrets: str | None = None,
) -> Connection | None:
    """Change the given fields (None leaves a field as it is); None when there is no such connection."""
    connection = await session.get(Connection, connection_id)
    if connection is None:
        return None
    if name is not None:
        connection.name = name
    if config is not None:
        connection.config = dict(config)
    if secrets is not None:
        connection.secrets = secrets
    connection.updated_at = utcnow()
    session.add(connection)
    await session.flush()
    return connection


async def connection_in_use(session: AsyncSession, *, connection_id: str) -> bool:
    """True while a pipeline reads from or writes to the connection."""
    stmt = select(func.count()).where(
        sa.or_(col(Pipeline.source_id) == connection_id, col(Pipeline.target_id) == connection_id)
    )
    return (await session.exec(stmt)).one() > 0


async def delete_connection(session: AsyncSession, *, connection_id: str) -> bool:
    """Delete a connection and the webhook events it received; False when there was none.

    Raises:
        InUseError: a pipeline still uses it.
    """
    if await connection_in_use(session, connection_id=connection_id):
        raise InUseError(f"connection {connection_id} is used by a pipeline")
    await session.exec(sa.delete(Event).where(col(Event.connection_id) == connection_id))
    result = await session.exec(sa.delete(Connection).where(col(Connection.id) == connection_id))
    return result.rowcount > 0


# --- pipelines ---------------------------------------------------------------------------------------------


async def create_pipeline(
    session: AsyncSession, *, name: str, source_id: str, target_id: str, spec: Mapping[str, Any]
) -> Pipeline:
    """Add a pipeline at version 1 and record that version.

    Raises:
        sqlalchemy.exc.IntegrityError: the name is taken or a connection does not exist (at flush).
    """
    pipeline = Pipeline(name=name, source_id=source_id, target_id=target_id, version=1, spec=dict(spec))
    session.add(pipeline)
    await session.flush()
    session.add(PipelineVersion(pipeline_id=pipeline.id, version=1, spec=dict(spec)))
    await session.flush()
    return pipeline


async def get_pipeline(session: AsyncSession, *, pipeline_id: str) -> Pipeline | None:
    return await session.get(Pipeline, pipeline_id)


async def list_pipelines(
    session: AsyncSession, *, after: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[Pipeline]:
    """Pipelines ordered by id; pass the last id of a page as `after` for the next one."""
    stmt = select(Pipeline).order_by(col(Pipeline.id)).limit(limit)
    if after is not None:
        stmt = stmt.where(col(Pipeline.id) > after)
    return list((await session.exec(stmt)).all())


async def get_pipeline_version(session: AsyncSession, *, pipeline_id: str, version: int) -> PipelineVersion | None:
    """The spec a pipeline had at `version` (what a run of that version used)."""
    return await session.get(PipelineVersion, (pipeline_id, version))


async def list_pipeline_versions(session: AsyncSession, *, pipeline_id: str) -> list[PipelineVersion]:
    """Every version of a pipeline, oldest first."""
    stmt = (
        select(PipelineVersion).where(PipelineVersion.pipeline_id == pipeline_id).order_by(col(PipelineVersion.version))
    )
    return list((await session.exec(stmt)).all())


async def update_pipeline(
    session: AsyncSession,
    *,
    pipeline_id: str,
    name: str | None = None,
    source_id: str | None = None,
    target_id: str | None = None,
    spec: Mapping[str, Any] | None = None,
) -> Pipeline | None:
    """Change the given fields (None leaves a field as it is); None when there is no such pipeline.

    A spec that differs from the current one makes a new version (recorded as a `PipelineVersion`); a rename
    or an identical spec does not. Two concurrent spec updates collide on the version's primary key, so the
    second raises `IntegrityError` at flush instead of silently overwriting the first.
    """
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        return None
    if name is not None:
        pipeline.name = name
    if source_id is not None:
        pipeline.source_id = source_id
    if target_id is not None:
        pipeline.target_id = target_id
    if spec is not None and dict(spec) != pipeline.spec:
        pipeline.version += 1
        pipeline.spec = dict(spec)
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=pipeline.version, spec=dict(spec)))
    pipeline.updated_at = utcnow()
    session.add(pipeline)
    await session.flush()
    return pipeline


async def delete_pipeline(session: AsyncSession, *, pipeline_id: str) -> bool:
    """Delete a pipeline with its versions, runs and their ops, links and checkpoint; False when there was none.

    Raises:
        InUseError: a run of the pipeline is queued or running.
    """
    active = select(func.count()).where(
        Run.pipeline_id == pipeline_id, col(Run.status).in_([str(status) for status in ACTIVE_RUN_STATUSES])
    )
    if (await session.exec(active)).one() > 0:
        raise InUseError(f"pipeline {pipeline_id} has a queued or running run")
    run_ids = select(Run.id).where(Run.pipeline_id == pipeline_id)
    await session.exec(sa.delete(RunOp).where(col(RunOp.run_id).in_(run_ids)))
    await session.exec(sa.delete(Run).where(col(Run.pipeline_id) == pipeline_id))
    await session.exec(sa.delete(Link).where(col(Link.pipeline_id) == pipeline_id))
    await session.exec(sa.delete(Checkpoint).where(col(Checkpoint.pipeline_id) == pipeline_id))
    await session.exec(sa.delete(ScheduleState).where(col(ScheduleState.pipeline_id) == pipeline_id))
    await session.exec(sa.delete(PipelineVersion).where(col(PipelineVersion.pipeline_id) == pipeline_id))
    result = await session.exec(sa.delete(Pipeline).where(col(Pipeline.id) == pipeline_id))
    return result.rowcount > 0
