"""Engine fixtures: a pipeline from a memory source to a memory target on the `db` fixture's database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.state import DATASETS, Dataset, dataset
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.jobs.run_requests import Mode, Scope
from enrolsync.sync.rules.spec import parse_spec
from enrolsync.sync.run import steps
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Connection, Link, Pipeline, PipelineVersion, Run, RunOp
from tests.conftest import Database

RULES: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["C1"]},
        {
            "name": "engineering",
            "when": {"attr": "department", "op": "equals", "value": "Engineering"},
            "enrol": ["C2"],
        },
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["C3"]},
    ],
    "mapping": {"username": "work_email"},
}


class RecordingQueue:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.ids.append(run_id)


@dataclass
class Engine:
    db: Database
    rt: Runtime
    data: Dataset
    pipeline_id: str
    clock: FakeClock
    queue: RecordingQueue

    async def run(self, mode: Mode = "apply", scope: Scope = "full", hr_ids: tuple[str, ...] = ()) -> Run:
        async with self.db.sessions() as session:
            run, _ = await run_requests.request_run(
                session,
                pipeline_id=self.pipeline_id,
                mode=mode,
                scope=scope,
                hr_ids=hr_ids,
                queue=self.queue,
            )
        await steps.execute(self.rt, run.id)
        return await self.get_run(run.id)

    async def get_run(self, run_id: str) -> Run:
        async with self.db.sessions() as session:
            run = await session.get(Run, run_id)
            assert run is not None
            return run

    async def ops(self, run_id: str) -> list[RunOp]:
        async with self.db.sessions() as session:
            stmt = select(RunOp).where(RunOp.run_id == run_id).order_by(RunOp.seq)  # type: ignore[arg-type]
            return list((await session.exec(stmt)).all())

    async def link(self, hr_id: str) -> Link:
        async with self.db.sessions() as session:
            link = await session.get(Link, (self.pipeline_id, hr_id))
            assert link is not None
            return link


async def make_engine(db: Database, *, spec: dict[str, Any] | None = None, registry: Registry | None = None) -> Engine:
    name = uuid.uuid4().hex
    data = dataset(name)
    box = SecretBox([generate_key()])
    clock = FakeClock()
    registry = registry or Registry.from_classes(MemorySource, MemoryTarget)
    rt = Runtime(
        sessions=db.sessions,
        registry=registry,
        box=box,
        clients=ClientFactory(clock=clock, read_retry=ReadRetry(clock=clock)),
        clock=clock,
        chunk=50,
    )
    public, secret = split_config(MemoryConfig, {"dataset": name}, allowed_http_hosts=["memory.invalid"])
    parsed = parse_spec(spec or RULES).model_dump(mode="json")
    async with db.sessions() as session:
        source = Connection(name=f"hr-{name}", connector="memory-source", config=public, secrets=box.encrypt(secret))
        target = Connection(
            name=f"lms-{name}", connector=registry_target(registry), config=public, secrets=box.encrypt(secret)
        )
        session.add_all([source, target])
        await session.flush()
        pipeline = Pipeline(name=f"p-{name}", source_id=source.id, target_id=target.id, spec=parsed)
        session.add(pipeline)
        await session.flush()
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=1, spec=parsed))
        await session.commit()
        pipeline_id = pipeline.id
    return Engine(db=db, rt=rt, data=data, pipeline_id=pipeline_id, clock=clock, queue=RecordingQueue())


def registry_target(registry: Registry) -> str:
    return next(info.key for info in registry if info.kind == "lms")


@pytest.fixture
def cleanup_datasets() -> Iterator[None]:
    before = set(DATASETS)
    yield
    for name in set(DATASETS) - before:
        DATASETS.pop(name, None)
