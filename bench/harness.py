"""The engine in-process: a private database, a runtime whose connectors reach the loopback fakes, one pipeline,
and runs executed by `steps.execute` with a timer on each of its stages."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from pydantic import SecretStr

from bench.serve_fake import COMPANY, HR_API_KEY, HR_WEBHOOK_KEY, LMS_TOKEN
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.base import ConnectorConfig, ConnectorInfo, Rate
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.demo_systems import COURSES
from enrolsync.settings import Settings
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.jobs.root import Root, open_root
from enrolsync.sync.run import planning, steps
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store import repo_config
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.tables import Run

# Any database on the server: the bench connects there only to create and drop its own.
POSTGRES_ADMIN_URL = os.environ.get("ENROLSYNC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LOOPBACK = ["127.0.0.1"]
T = TypeVar("T")
PHASES = ("read_source", "plan_run", "apply_run")
UNLIMITED: dict[str, Rate | None] = {
    "bamboohr": None,
    "moodle": None,
}  # the fakes are not throttled  # what `runner` calls for each stage of a run


class PhaseClock:
    """Seconds spent in each stage of a run, from timers wrapped around the functions `steps` calls.

    Wrapping the names in `steps`' namespace times the engine without changing it; a stage whose function is
    renamed simply goes missing from the figures.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        for name in PHASES:
            original = getattr(steps, name, None)
            if original is not None:  # a stage the engine no longer has is reported as missing
                setattr(steps, name, self._timed(name.split("_")[0], original))
        # Inside "plan": reading what the target holds on a full run (drift), so the plan figure can be split into
        # the engine's planning and the target's answers.
        snapshot = getattr(planning, "_snapshot", None)
        if snapshot is not None:
            planning._snapshot = self._timed("snapshot", snapshot)  # type: ignore[assignment]

    def _timed(self, name: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def timed(*args: Any, **kwargs: Any) -> T:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed

    def take(self) -> dict[str, float]:
        """The seconds per stage since the last call, and start again."""
        taken, self.seconds = self.seconds, {}
        return {name: round(value, 3) for name, value in taken.items()}


@dataclass
class BenchClientFactory(ClientFactory):
    """Connectors with a per-connector request budget chosen by the bench (None lifts the connector's default)."""

    rates: Mapping[str, Rate | None] = field(default_factory=dict)
    limiters: list[RateLimiter] = field(default_factory=list)

    def limiter(self, info: ConnectorInfo, config: ConnectorConfig) -> RateLimiter:
        if info.key not in self.rates:
            made = super().limiter(info, config)
        else:
            made = RateLimiter(self.rates[info.key], max_concurrency=info.max_concurrency, clock=self.clock)
        self.limiters.append(made)  # read back for the 429s and requests the engine saw
        return made


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process used so far: other load on the machine barely moves them."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A private, empty database for one measurement: a SQLite file, or a PostgreSQL database made and dropped."""
    name = f"enrolsync_bench_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        path = workdir / f"{name}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in workdir.glob(f"{name}.sqlite*"):
                leftover.unlink()
        return
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_available() -> str | None:
    """None when the bench's PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"{type(error).__name__}: {error}".strip()


def pipeline_spec(course_ids: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's rules (everyone, by department, people leaders) plus the default manager role over reports."""
    course = {short: str(course_ids[short]) for short in COURSES}
    department = {"attr": "department", "op": "equals"}
    return {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [course["SAFETY-101"]]},
            {"name": "engineering", "when": {**department, "value": "Engineering"}, "enrol": [course["SEC-200"]]},
            {"name": "people leaders", "when": {"op": "is_manager"}, "enrol": [course["LEAD-1"]]},
            {
                "name": "sales",
                "when": {"attr": "department", "op": "prefix", "value": "sales"},
                "enrol": [course["SALES-110"]],
            },
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }


def connection_configs(hr_url: str, lms_url: str, role_ids: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """The two connections' configs as an admin would post them (secrets included)."""
    return {
        "bamboohr": {
            "company_domain": COMPANY,
            "base_url": f"{hr_url}/api/gateway.php/{COMPANY}/",
            "api_key": HR_API_KEY,
            "webhook_private_key": HR_WEBHOOK_KEY,
        },
        "moodle": {
            "base_url": f"{lms_url}/",
            "token": LMS_TOKEN,
            "role_ids": dict(role_ids),
            "role_mirror_field": "enrolsyncroles",
            "job_title_field": "jobtitle",
        },
    }


@dataclass
class Bench:
    """One database, one runtime, one pipeline between the two fakes."""

    root: Root
    clients: BenchClientFactory
    data_dir: Path  # the job engine's own SQLite file lives here: never in the checkout's data/
    pipeline_id: str = ""
    source_id: str = ""

    @property
    def rt(self) -> Runtime:
        return self.root.runtime

    @classmethod
    async def open(cls, url: str, secret_key: str, *, rates: Mapping[str, Rate | None]) -> Bench:
        """Migrate the database at `url` and build the runtime the way the service does (its composition root)."""
        data_dir = Path(tempfile.mkdtemp(prefix="enrolsync-bench-"))
        settings = Settings(
            database_url=url, data_dir=data_dir, secret_keys=[SecretStr(secret_key)], allowed_private_hosts=LOOPBACK
        )
        clients = BenchClientFactory(rates=rates)
        return cls(root=await open_root(settings, clients=clients), clients=clients, data_dir=data_dir)

    async def add_pipeline(self, configs: Mapping[str, Mapping[str, Any]], spec: Mapping[str, Any]) -> str:
        models: dict[str, type[ConnectorConfig]] = {"bamboohr": BambooHRConfig, "moodle": MoodleConfig}
        async with self.rt.sessions() as session:
            ids = {}
            for key, config in configs.items():
                public, secret = split_config(models[key], config, allowed_http_hosts=LOOPBACK)
                made = await repo_config.create_connection(
                    session, name=f"bench {key}", connector=key, config=public, secrets=self.rt.box.encrypt(secret)
                )
                ids[key] = made.id
            pipeline = await repo_config.create_pipeline(
                session, name="bench", source_id=ids["bamboohr"], target_id=ids["moodle"], spec=spec
            )
            await session.commit()
            self.pipeline_id, self.source_id = pipeline.id, ids["bamboohr"]
        return self.pipeline_id

    async def request(
        self, scope: run_requests.Scope, hr_ids: tuple[str, ...] = (), mode: run_requests.Mode = "apply"
    ) -> str:
        async with self.rt.sessions() as session:
            run, _ = await run_requests.request_run(
                session,
                pipeline_id=self.pipeline_id,
                mode=mode,
                scope=scope,
                hr_ids=hr_ids,
                queue=_NoQueue(),
            )
        return run.id

    async def execute(self, run_id: str) -> str:
        """`steps.execute`, as a worker runs it (without the durable engine around it)."""
        return await steps.execute(self.rt, run_id)

    async def run(self, run_id: str) -> Run:
        async with self.rt.sessions() as session:
            found = await session.get(Run, run_id)
            assert found is not None
            return found

    def interrupt(self) -> None:
        """Stop runs in flight after their current batch, as a worker does on SIGTERM."""
        self.rt.stopping.set()

    async def close(self) -> None:
        await self.root.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class _NoQueue:
    """Runs requested by the harness are executed by it directly."""

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        return None
