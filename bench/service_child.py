"""The service as deployed, for scenario 5: the REST API (uvicorn on loopback) and a worker (DBOS) in one process.

    python -m bench.service_child --db URL --secret-key KEY --data-dir DIR [--no-api] [--rates unlimited]

Prints `READY <port> <admin token or ->` once both run, then serves until SIGTERM. With `BENCH_SERVICE_PROFILE=DIR`
in its environment it writes a pyinstrument session of the whole service (`service-<pid>.pyisession`) and the runs it
executed with their times (`runs-<pid>.txt`: created, started, finished, people) there when it stops. With
`BENCH_SERVICE_PROCESSES=2` the worker runs in a child process of its own (`enrolsync serve` beside
`enrolsync worker`, as deployed) instead of sharing the API's event loop. With
`--no-api` it is one more worker only (`READY - -`), for the two-worker measurement on PostgreSQL.
`--rates unlimited` lifts the connectors' request budgets, as the engine runs of scenarios 1-3 do, so the
figures compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench import procs
from bench.harness import UNLIMITED, BenchClientFactory
from enrolsync.api.app import create_app
from enrolsync.demo_systems import serve
from enrolsync.logs import configure_logging
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.store.tables import Run

PROFILE_ENV = "BENCH_SERVICE_PROFILE"
PROCESSES_ENV = "BENCH_SERVICE_PROCESSES"  # "2": the API here and the worker in a child, as deployed


async def admin_token(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    """A bearer token for the bench, where the API has tokens (issue 3); None where it takes none."""
    try:
        from enrolsync.api.tokens import issue_token
        from enrolsync.sync.store.tables import ApiRole
    except ImportError:
        return None
    async with sessions() as session:
        issued = await issue_token(session, name="bench", role=ApiRole.ADMIN)
        await session.commit()
    return issued.secret


async def serve_until_stopped(settings: Settings, *, api: bool, rates: str, worker_here: bool = True) -> None:
    clients = BenchClientFactory(rates=UNLIMITED) if rates == "unlimited" else None
    worker = await worker_module.start(settings, clients=clients) if worker_here else None
    sessions = worker.runtime.sessions if worker is not None else None
    stopping = asyncio.Event()
    profiled = os.environ.get(PROFILE_ENV)
    written = _profile(Path(profiled)) if profiled else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        if not api:
            print("READY - -", flush=True)
            await stopping.wait()
            return
        app = create_app(settings, clients=clients)
        async with serve(app) as url:
            sessions = app.state.services.sessions
            token = await admin_token(sessions)
            print(f"READY {url.rsplit(':', 1)[1]} {token or '-'}", flush=True)
            await stopping.wait()
    finally:
        if profiled and written:
            # At once: the bench kills a child that has not ended ten seconds after SIGTERM.
            if sessions is not None and worker is not None:
                await dump_runs(sessions, Path(profiled))
            written()
        if worker is not None:
            await worker_module.stop(worker, timeout_seconds=5)


@contextmanager
def worker_process(argv: list[str]) -> Iterator[None]:
    """`enrolsync worker` beside `enrolsync serve`, as deployed: this service's worker in a process of its own."""
    command = [sys.executable, "-m", "bench.service_child", *argv, "--no-api"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if not child.stdout.readline().startswith("READY"):
            raise RuntimeError(f"the worker did not start (exit code {child.poll()})")
        yield
    finally:
        procs.stop(child)


async def dump_runs(sessions: async_sessionmaker[AsyncSession], out: Path) -> None:
    """The runs this service executed, one line each: how long each waited and took, how many people it had."""
    async with sessions() as session:
        runs = (await session.exec(select(Run).order_by(col(Run.created_at)))).all()
    lines = []
    for run in runs:
        start, end = run.started_at, run.finished_at
        waited = (start - run.created_at).total_seconds() if start else None
        took = (end - start).total_seconds() if start and end else None
        lines.append(
            f"{run.created_at:%H:%M:%S.%f} {run.trigger:8} {run.scope:6} {run.status:10} people={len(run.hr_ids):4}"
            f" waited={waited} took={took} ops={run.counters.get('ops')}"
        )
    await asyncio.to_thread(_write, out / f"runs-{os.getpid()}.txt", "\n".join(lines) + "\n")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service_child", description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--no-api", action="store_true", help="a worker only")
    parser.add_argument("--rates", choices=("unlimited", "default"), default="unlimited")
    args = parser.parse_args()
    configure_logging("WARNING")  # stderr; stdout carries the result
    settings = Settings(
        data_dir=args.data_dir,
        database_url=args.db,
        secret_keys=[SecretStr(args.secret_key)],
        log_level="WARNING",
        allowed_private_hosts=["127.0.0.1"],  # the fakes listen on loopback
    )
    split = not args.no_api and os.environ.get(PROCESSES_ENV) == "2"
    with worker_process(sys.argv[1:]) if split else nullcontext():
        asyncio.run(serve_until_stopped(settings, api=not args.no_api, rates=args.rates, worker_here=not split))


def _profile(out: Path) -> Callable[[], None]:
    """Start profiling the service; what writes the report when called."""
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled")
    profiler.start()

    def write() -> None:
        session = profiler.stop()
        out.mkdir(parents=True, exist_ok=True)
        session.save(str(out / f"service-{os.getpid()}.pyisession"))  # `pyinstrument --load` renders it

    return write


if __name__ == "__main__":
    main()
