"""Connections and pipelines on both databases: created with their JSON intact, versioned, deleted with their
history unless a run is active. (The API's own reads, pages and updates are tested in tests/api.)"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Connection, Link, Pipeline, PipelineVersion, Run, RunStatus
from tests.support.database import Database

SPEC = {"rules": [{"name": "sales", "enrol": ["C1"]}], "matching": ["external_id", "email"]}


async def _ends(db: Database) -> tuple[str, str]:
    async with db.sessions() as s:
        source = await repo.create_connection(s, name="hr", connector="memory-source", config={"dataset": "a"})
        target = await repo.create_connection(s, name="lms", connector="memory-target", config={}, secrets="tok")
        await s.commit()
    return source.id, target.id


async def test_a_connection_reads_back_with_its_config_and_secrets_token(db: Database) -> None:
    async with db.sessions() as s:
        made = await repo.create_connection(
            s, name="hr", connector="bamboohr", config={"subdomain": "acme", "nested": {"a": [1, 2]}}, secrets="tok"
        )
        await s.commit()
    async with db.sessions() as s:
        got = await s.get(Connection, made.id)
    assert got is not None
    assert (got.name, got.connector, got.config, got.secrets) == (
        "hr",
        "bamboohr",
        {"subdomain": "acme", "nested": {"a": [1, 2]}},
        "tok",
    )


async def test_connection_names_are_unique(db: Database) -> None:
    async with db.sessions() as s:
        await repo.create_connection(s, name="hr", connector="memory-source", config={})
        with pytest.raises(IntegrityError):
            await repo.create_connection(s, name="hr", connector="memory-target", config={})


async def test_a_pipeline_starts_at_version_1_with_that_version_recorded(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        await s.commit()
    assert pipeline.version == 1
    async with db.sessions() as s:
        versions = (await s.exec(select(PipelineVersion).where(PipelineVersion.pipeline_id == pipeline.id))).all()
    assert [(v.version, v.spec) for v in versions] == [(1, SPEC)]


async def test_deleting_a_pipeline_removes_its_history_but_not_while_a_run_is_active(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        run, _ = await repo.create_run(s, pipeline_id=pipeline.id, trigger="admin", mode="apply", scope="full")
        await ledger.add_ops(s, run_id=run.id, ops=[(1, "1", "create_user", {"kind": "create_user", "hr_id": "1"})])
        s.add(Link(pipeline_id=pipeline.id, hr_id="1", account_id="u1"))
        await repo.save_checkpoint(s, pipeline_id=pipeline.id, cursor="c")
        await s.commit()
        with pytest.raises(repo.InUseError):
            await repo.delete_pipeline(s, pipeline_id=pipeline.id)
        run.status = RunStatus.SUCCEEDED
        s.add(run)
        assert await repo.delete_pipeline(s, pipeline_id=pipeline.id)
        await s.commit()
    async with db.sessions() as s:
        assert await s.get(Pipeline, pipeline.id) is None
        assert await s.get(Run, run.id) is None
        assert await repo.get_links(s, pipeline_id=pipeline.id) == {}
        assert await repo.get_checkpoint(s, pipeline_id=pipeline.id) is None
        assert (await s.exec(select(Pipeline))).all() == []
        assert not await repo.delete_pipeline(s, pipeline_id=pipeline.id), "a second delete finds nothing"
