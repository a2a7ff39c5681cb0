"""What a run loads before its first step: each end of the pipeline as the kind of connector it must be."""

from __future__ import annotations

import pytest

from enrolsync.sync.store.tables import Pipeline, RunStatus
from tests.support.database import Database
from tests.support.harness import make_engine

pytestmark = pytest.mark.usefixtures("cleanup_datasets")


async def test_a_pipeline_naming_a_target_as_its_source_fails_its_run_before_any_write(db: Database) -> None:
    engine = await make_engine(db)
    # The API refuses such a pipeline; rows written by hand (or by an older version) can still pair the ends
    # wrongly, and the run must then fail visibly, naming the error, before it reads or writes anything.
    async with db.sessions() as session:
        pipeline = await session.get(Pipeline, engine.pipeline_id)
        assert pipeline is not None
        pipeline.source_id = pipeline.target_id
        session.add(pipeline)
        await session.commit()

    run = await engine.run()

    assert run.status == RunStatus.FAILED
    # The run's error shows only the type of errors that are not the remote system's (see `steps.describe`);
    # the worker log carries "connector 'memory-target' is a target (lms), where a source (hris) is needed".
    assert "WrongKind" in (run.error or "")
    assert await engine.ops(run.id) == []
    assert engine.data.lms.writes == 0
