"""`enrolsync worker`: execute queued runs under the durable engine until SIGTERM/SIGINT.

Each worker also runs the maintenance loop (see `maintenance.py`): it takes over runs of workers that died,
re-enqueues runs nobody holds, fires schedules and hands stored HR events to runs. On SIGTERM it finishes the
batch in flight, records it, hands its runs back and exits; another worker (or this one, restarted) continues.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.jobs import maintenance, workflow
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.crypto import SecretBox, load_or_create_keys
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade

log = structlog.get_logger("enrolsync.worker")


@dataclass
class Worker:
    runtime: Runtime
    engine: AsyncEngine
    queue: workflow.DbosRunQueue
    loop_task: asyncio.Task[None] | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


def _worker_id(settings: Settings) -> str:
    return settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"


async def _maintain(worker: Worker, every: float) -> None:
    engine = maintenance.Engine(queue=worker.queue, state=workflow.state, abandon=workflow.abandon)
    while not worker.stopped.is_set():
        await maintenance.pass_once(worker.runtime, engine)
        try:
            await asyncio.wait_for(worker.stopped.wait(), timeout=every)
        except TimeoutError:
            continue


async def start(
    settings: Settings,
    *,
    registry: Registry | None = None,
    clients: ClientFactory | None = None,
    clock: Clock = SYSTEM_CLOCK,
    maintain: bool = True,
) -> Worker:
    """Migrate, build the runtime, launch the engine in this process and start the maintenance loop."""
    url = settings.resolved_database_url()
    await asyncio.to_thread(upgrade, url)
    engine = make_async_engine(url)
    runtime = Runtime(
        sessions=session_factory(engine),
        registry=registry or Registry.from_entry_points(),
        box=SecretBox(load_or_create_keys(settings)),
        clients=clients or ClientFactory(clock=clock),
        clock=clock,
        owner=_worker_id(settings),
        lease_seconds=settings.run_lease_seconds,
    )
    system_url = settings.resolved_system_database_url()
    await workflow.launch(
        runtime, system_database_url=system_url, concurrency=settings.worker_concurrency, executor_id=runtime.owner
    )
    worker = Worker(runtime=runtime, engine=engine, queue=workflow.DbosRunQueue(system_url))
    if maintain:
        worker.loop_task = asyncio.create_task(_maintain(worker, settings.maintenance_seconds))
    log.info("worker started", worker_id=runtime.owner)
    return worker


async def stop(worker: Worker, *, timeout_seconds: int = 30) -> None:
    """Finish the batches in flight (they stop at the next batch boundary), hand runs back, shut down."""
    worker.runtime.stopping.set()
    worker.stopped.set()
    if worker.loop_task is not None:
        await worker.loop_task
    await asyncio.to_thread(workflow.shutdown, timeout_seconds)
    worker.queue.close()
    await worker.engine.dispose()


async def serve(settings: Settings) -> None:
    worker = await start(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("worker stopping", worker_id=worker.runtime.owner)
    await stop(worker)


def main(settings: Settings) -> None:
    asyncio.run(serve(settings))
