"""Connections and pipelines on both databases: CRUD, pagination, versioning, what blocks a delete."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import RunStatus
from tests.support.database import Database

SPEC = {"rules": [{"name": "sales", "enrol": ["C1"]}], "matching": ["external_id", "email"]}


async def _ends(db: Database) -> tuple[str, str]:
    async with db.sessions() as s:
        source = await repo.create_connection(s, name="hr", connector="memory-source", config={"dataset": "a"})
        target = await repo.create_connection(s, name="lms", connector="memory-target", config={}, secrets="tok")
        await s.commit()
    return source.id, target.id


async def test_connection_crud_round_trip(db: Database) -> None:
    async with db.sessions() as s:
        made = await repo.create_connection(
            s, name="hr", connector="bamboohr", config={"subdomain": "acme", "nested": {"a": [1, 2]}}, secrets="tok"
        )
        await s.commit()
    async with db.sessions() as s:
        got = await repo.get_connection(s, connection_id=made.id)
        assert got is not None
        assert (got.name, got.connector, got.config, got.secrets) == (
            "hr",
            "bamboohr",
            {"subdomain": "acme", "nested": {"a": [1, 2]}},
            "tok",
        )
        updated = await repo.update_connection(s, connection_id=made.id, config={"subdomain": "acme2"})
        await s.commit()
    assert updated is not None
    assert updated.config == {"subdomain": "acme2"} and updated.secrets == "tok" and updated.name == "hr"
    assert updated.updated_at >= made.updated_at
    async with db.sessions() as s:
        assert (await repo.get_connection_by_name(s, name="hr")) is not None
        assert await repo.delete_connection(s, connection_id=made.id)
        assert not await repo.delete_connection(s, connection_id=made.id)
        assert await repo.update_connection(s, connection_id=made.id, name="x") is None
        await s.commit()
        assert await repo.get_connection(s, connection_id=made.id) is None


async def test_connection_names_are_unique(db: Database) -> None:
    async with db.sessions() as s:
        await repo.create_connection(s, name="hr", connector="memory-source", config={})
        with pytest.raises(IntegrityError):
            await repo.create_connection(s, name="hr", connector="memory-target", config={})


async def test_connections_page_by_id_without_gaps_or_repeats(db: Database) -> None:
    async with db.sessions() as s:
        for n in range(7):
            await repo.create_connection(s, name=f"c{n}", connector="memory-source" if n % 2 else "x", config={})
        await s.commit()
        seen: list[str] = []
        after = None
        while page := await repo.list_connections(s, after=after, limit=3):
            seen += [c.name for c in page]
            after = page[-1].id
        assert sorted(seen) == [f"c{n}" for n in range(7)]
        assert len(seen) == 7
        only = await repo.list_connections(s, connector="memory-source")
        assert sorted(c.name for c in only) == ["c1", "c3", "c5"]


async def test_a_connection_in_use_cannot_be_deleted(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        assert await repo.connection_in_use(s, connection_id=target)
        with pytest.raises(repo.InUseError):
            await repo.delete_connection(s, connection_id=target)
        assert await repo.delete_pipeline(s, pipeline_id=pipeline.id)
        assert not await repo.connection_in_use(s, connection_id=target)
        assert await repo.delete_connection(s, connection_id=target)
        await s.commit()


async def test_pipeline_starts_at_version_1_and_spec_changes_make_new_versions(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        await s.commit()
    assert pipeline.version == 1
    changed = {**SPEC, "rules": []}
    async with db.sessions() as s:
        renamed = await repo.update_pipeline(s, pipeline_id=pipeline.id, name="p2", spec=dict(SPEC))
        assert renamed is not None and renamed.version == 1  # same spec: no new version
        bumped = await repo.update_pipeline(s, pipeline_id=pipeline.id, spec=changed)
        await s.commit()
    assert bumped is not None and (bumped.version, bumped.name, bumped.spec) == (2, "p2", changed)
    async with db.sessions() as s:
        versions = await repo.list_pipeline_versions(s, pipeline_id=pipeline.id)
        assert [(v.version, v.spec) for v in versions] == [(1, SPEC), (2, changed)]
        first = await repo.get_pipeline_version(s, pipeline_id=pipeline.id, version=1)
        assert first is not None and first.spec == SPEC
        assert await repo.update_pipeline(s, pipeline_id="missing", spec=changed) is None


async def test_concurrent_spec_updates_collide_instead_of_overwriting(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        await s.commit()
    async with db.sessions() as first, db.sessions() as second:
        # Both writers load the pipeline (say, to validate the new spec) before either saves.
        loaded = [await repo.get_pipeline(session, pipeline_id=pipeline.id) for session in (first, second)]
        await repo.update_pipeline(first, pipeline_id=pipeline.id, spec={"v": "first"})
        await first.commit()
        with pytest.raises(IntegrityError):
            # The second writer still holds version 1 and would write version 2 again.
            await repo.update_pipeline(second, pipeline_id=pipeline.id, spec={"v": "second"})
        assert len(loaded) == 2  # kept alive until here: the session only holds objects weakly
    async with db.sessions() as s:
        current = await repo.get_pipeline(s, pipeline_id=pipeline.id)
        assert current is not None and (current.version, current.spec) == (2, {"v": "first"})


async def test_deleting_a_pipeline_removes_its_history_but_not_while_a_run_is_active(db: Database) -> None:
    source, target = await _ends(db)
    async with db.sessions() as s:
        pipeline = await repo.create_pipeline(s, name="p", source_id=source, target_id=target, spec=SPEC)
        run, _ = await repo.create_run(s, pipeline_id=pipeline.id, trigger="admin", mode="apply", scope="full")
        await repo.add_run_ops(s, run_id=run.id, ops=[{"kind": "create_user", "hr_id": "1"}])
        await repo.upsert_link(s, pipeline_id=pipeline.id, hr_id="1", account_id="u1", applied={})
        await repo.save_checkpoint(s, pipeline_id=pipeline.id, cursor="c")
        await s.commit()
        with pytest.raises(repo.InUseError):
            await repo.delete_pipeline(s, pipeline_id=pipeline.id)
        await repo.set_run_status(s, run_id=run.id, status=RunStatus.SUCCEEDED)
        assert await repo.delete_pipeline(s, pipeline_id=pipeline.id)
        await s.commit()
    async with db.sessions() as s:
        assert await repo.get_pipeline(s, pipeline_id=pipeline.id) is None
        assert await repo.get_run(s, run_id=run.id) is None
        assert await repo.count_links(s, pipeline_id=pipeline.id) == 0
        assert await repo.list_pipelines(s) == []
