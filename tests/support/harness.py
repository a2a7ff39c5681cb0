"""The run harness: one pipeline on a test database, its runs requested as the API does and executed in-process
as a worker does, and what they wrote read back.

Every run goes through `enrolsync.sync.run.steps.execute(rt, run_id, generation)`, the step sequence a worker runs,
at the run's current generation (a run handed back or approved again is executed at its new one). `Engine` joins
two memory systems (`make_engine`); `tests/support/systems.py` builds the same harness on the BambooHR and Moodle
fakes; the API tests' `execute` fixture calls `execute` below with the app's runtime.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.state import Dataset, dataset
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
from tests.support.database import Database
from tests.support.factories import RULES, staff


class RecordingQueue:
    """Stands in for the job engine's queue: remembers the run ids (and generations) it was handed."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.generations: list[int] = []

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.ids.append(run_id)
        self.generations.append(generation)


def make_runtime(
    sessions: async_sessionmaker[AsyncSession],
    registry: Registry,
    box: SecretBox,
    *,
    clock: FakeClock,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    today: Callable[[], date] | None = None,
    max_attempts: int = 3,
) -> Runtime:
    """What a worker executes runs with, all time on `clock`: retries and rate limits wait on it, not for real.
    `transports` serve hosts from fakes; `today` is the run's date (the HR fake's, so its clock moves both)."""
    rt = Runtime(
        sessions=sessions,
        registry=registry,
        box=box,
        clients=ClientFactory(transports=dict(transports or {}), clock=clock, read_retry=ReadRetry(clock=clock)),
        clock=clock,
        max_attempts=max_attempts,
        chunk=50,  # small chunks: a few dozen people already span several planning and apply transactions
    )
    if today is not None:  # else the runtime's own: the real date
        rt.today = today
    return rt


async def execute(rt: Runtime, run_id: str) -> str:
    """Execute a queued run to its end in-process, as a worker would: at the run's current generation."""
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None, f"run {run_id} does not exist"
        generation = run.generation
    return await steps.execute(rt, run_id, generation)


@dataclass(frozen=True)
class End:
    """One end of a pipeline: a connector and its whole config (secrets in plain text; they are encrypted)."""

    connector: str
    model: type[ConnectorConfig]
    config: Mapping[str, Any]


async def add_pipeline(
    db: Database, box: SecretBox, source: End, target: End, spec: Mapping[str, Any], *, http_hosts: list[str]
) -> str:
    """Write both connections and a pipeline at version 1 as the API does (without its audit entries); returns the
    pipeline's id."""
    name = uuid.uuid4().hex[:12]
    parsed = parse_spec(dict(spec)).model_dump(mode="json")
    rows = []
    for end in (source, target):
        public, secret = split_config(end.model, end.config, allowed_http_hosts=http_hosts)
        rows.append(
            Connection(
                name=f"{end.connector}-{name}", connector=end.connector, config=public, secrets=box.encrypt(secret)
            )
        )
    async with db.sessions() as session:
        session.add_all(rows)
        await session.flush()
        pipeline = Pipeline(name=f"p-{name}", source_id=rows[0].id, target_id=rows[1].id, spec=parsed)
        session.add(pipeline)
        await session.flush()
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=1, spec=parsed))
        await session.commit()
        return pipeline.id


@dataclass(kw_only=True)
class Harness:
    """One pipeline on a test database and the runtime a worker would execute its runs with."""

    db: Database
    rt: Runtime
    pipeline_id: str
    clock: FakeClock
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    run_ids: list[str] = field(default_factory=list)  # every run requested, oldest first

    async def request(self, scope: Scope = "full", *, mode: Mode = "apply", hr_ids: tuple[str, ...] = ()) -> str:
        """Request a run as the API does (it may join one already queued); returns its id."""
        async with self.db.sessions() as session:
            run, _ = await run_requests.request_run(
                session, pipeline_id=self.pipeline_id, mode=mode, scope=scope, hr_ids=hr_ids, queue=self.queue
            )
        self.run_ids.append(run.id)
        return run.id

    async def run(self, scope: Scope = "full", *, mode: Mode = "apply", hr_ids: tuple[str, ...] = ()) -> Run:
        """Request a run, execute it to its end as a worker would, and read it back."""
        run_id = await self.request(scope, mode=mode, hr_ids=hr_ids)
        await execute(self.rt, run_id)
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> Run:
        async with self.db.sessions() as session:
            run = await session.get(Run, run_id)
            assert run is not None
            return run

    async def ops(self, run_id: str) -> list[RunOp]:
        """The run's operations in the order it planned them."""
        async with self.db.sessions() as session:
            stmt = select(RunOp).where(col(RunOp.run_id) == run_id).order_by(col(RunOp.seq))
            return list((await session.exec(stmt)).all())

    async def link(self, hr_id: str) -> Link:
        async with self.db.sessions() as session:
            link = await session.get(Link, (self.pipeline_id, hr_id))
            assert link is not None
            return link

    async def links(self) -> dict[str, Link]:
        """Every person's link on this pipeline, by HR id."""
        async with self.db.sessions() as session:
            stmt = select(Link).where(col(Link.pipeline_id) == self.pipeline_id)
            return {link.hr_id: link for link in (await session.exec(stmt)).all()}


@dataclass(kw_only=True)
class Engine(Harness):
    """The harness between a memory HR system and a memory LMS, both in `data`."""

    data: Dataset


async def make_engine(db: Database, *, spec: dict[str, Any] | None = None, registry: Registry | None = None) -> Engine:
    """A pipeline from an empty memory source to an empty memory target (the registry's first LMS connector) with
    `spec` (default `RULES`). Its dataset outlives the test unless the test uses the `cleanup_datasets` fixture."""
    name = uuid.uuid4().hex
    data = dataset(name)
    box = SecretBox([generate_key()])
    clock = FakeClock()
    registry = registry or Registry.from_classes(MemorySource, MemoryTarget)
    rt = make_runtime(db.sessions, registry, box, clock=clock)
    config = {"dataset": name}
    source, target = End("memory-source", MemoryConfig, config), End(registry_target(registry), MemoryConfig, config)
    pipeline_id = await add_pipeline(db, box, source, target, spec or RULES, http_hosts=["memory.invalid"])
    return Engine(db=db, rt=rt, data=data, pipeline_id=pipeline_id, clock=clock)


def registry_target(registry: Registry) -> str:
    """The key of the registry's first LMS connector."""
    return next(info.key for info in registry if info.kind == "lms")


def seed_staff(engine: Engine) -> None:
    """Person 1 leads 2, 3 (Engineering) and 4 (Sales), in the engine's HR system."""
    for person in (staff("1", manager=None), staff("2"), staff("3"), staff("4", department="Sales")):
        engine.data.hris.put(person)
