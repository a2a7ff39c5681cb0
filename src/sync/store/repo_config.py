"""Connections and pipelines (with their versions): what an admin configures. Import through `repo`.

The API's routes read, list and update them with the API's own paging and audit (`api/queries.py`); what lives
here is what more than the API needs: creating them (benchmarks, the demo's fixtures in tests) and deleting a
pipeline with its history.
"""

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
    Link,
    Pipeline,
    PipelineVersion,
    Run,
    RunOp,
    ScheduleState,
)


class InUseError(Exception):
    """The row is still needed: a pipeline by a queued or running run."""


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
