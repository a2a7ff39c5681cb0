"""`enrolsync worker`: run queued runs under the durable engine until SIGTERM/SIGINT.

On start it recovers what a crash left: DBOS resumes this executor's unfinished workflows, and runs recorded as
queued whose enqueue never happened (a crash between the commit and the enqueue) are enqueued again.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync import workflow
from enrolsync.sync.clients import ClientFactory
from enrolsync.sync.context import Runtime
from enrolsync.sync.store.crypto import SecretBox, load_or_create_keys
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade
from enrolsync.sync.store.tables import Run, RunStatus

log = structlog.get_logger("enrolsync.worker")


@dataclass
class Worker:
    runtime: Runtime
    engine: AsyncEngine
    queue: workflow.DbosRunQueue


async def start(
    settings: Settings,
    *,
    registry: Registry | None = None,
    clients: ClientFactory | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Worker:
    """Migrate, build the runtime, launch the engine in this process and re-enqueue orphaned queued runs."""
    url = settings.resolved_database_url()
    await asyncio.to_thread(upgrade, url)
    engine = make_async_engine(url)
    runtime = Runtime(
        sessions=session_factory(engine),
        registry=registry or Registry.from_entry_points(),
        box=SecretBox(load_or_create_keys(settings)),
        clients=clients or ClientFactory(clock=clock),
        clock=clock,
    )
    system_url = settings.resolved_system_database_url()
    await workflow.launch(runtime, system_database_url=system_url, concurrency=settings.worker_concurrency)
    queue = workflow.DbosRunQueue(system_url)
    async with runtime.sessions() as session:
        queued = (await session.exec(select(Run.id).where(Run.status == RunStatus.QUEUED))).all()
    for run_id in queued:
        await queue.enqueue(run_id)  # the workflow id is the run id: already-enqueued runs are not duplicated
    log.info("worker started", requeued=len(queued))
    return Worker(runtime=runtime, engine=engine, queue=queue)


async def stop(worker: Worker, *, timeout_seconds: int = 30) -> None:
    worker.queue.close()
    await asyncio.to_thread(workflow.shutdown, timeout_seconds)
    await worker.engine.dispose()


async def serve(settings: Settings) -> None:
    worker = await start(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("worker stopping")
    await stop(worker)


def main(settings: Settings) -> None:
    asyncio.run(serve(settings))
