"""`enrolsync worker`: execute queued runs under the durable engine until SIGTERM/SIGINT.

Each worker also runs the maintenance loop (see `maintenance.py`): it takes over runs of workers that died,
re-enqueues runs nobody holds, fires schedules and hands stored HR events to runs. On SIGTERM it finishes the
batch in flight, records it, hands its runs back and exits; another worker (or this one, restarted) continues.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import start_http_server
from sqlalchemy.exc import SQLAlchemyError

from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.jobs import maintenance, workflow
from enrolsync.sync.jobs.root import Root, open_root
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store import repo_gauges

log = structlog.get_logger("enrolsync.worker")


@dataclass
class Worker:
    root: Root
    queue: workflow.DbosRunQueue
    loop_task: asyncio.Task[None] | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    reads: set[asyncio.Task[None]] = field(default_factory=set)  # progress reads in flight (issue 16)

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run a progress read beside the maintenance loop (it may wait minutes on a rate-limited LMS)."""
        task = asyncio.create_task(job)
        self.reads.add(task)
        task.add_done_callback(self.reads.discard)

    @property
    def runtime(self) -> Runtime:
        return self.root.runtime


async def _maintain(worker: Worker, every: float) -> None:
    engine = maintenance.Engine(queue=worker.queue, state=workflow.state, abandon=workflow.abandon, spawn=worker.spawn)
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
    root = await open_root(settings, registry=registry, clients=clients, clock=clock)
    runtime = root.runtime
    system_url = settings.resolved_system_database_url()
    try:
        await workflow.launch(
            runtime, system_database_url=system_url, concurrency=settings.worker_concurrency, executor_id=runtime.owner
        )
    except BaseException:
        await root.close()  # a worker that cannot start its engine leaves no pool behind
        raise
    worker = Worker(root=root, queue=workflow.DbosRunQueue(system_url))
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
    for read in list(worker.reads):
        # A progress read stops where it is: it stored nothing yet (it stores in one commit at its end), its
        # record says it stopped, and the next tick reads from the last successful read again.
        read.cancel()
    await asyncio.gather(*worker.reads, return_exceptions=True)
    with suppress(SQLAlchemyError):  # a database gone: the heartbeat ages out by itself
        async with worker.runtime.sessions() as session:
            await repo_gauges.forget_worker(session, worker_id=worker.runtime.owner)
    await asyncio.to_thread(workflow.shutdown, timeout_seconds)
    worker.queue.close()
    await worker.root.close()


async def serve(settings: Settings) -> None:
    worker = await start(settings)
    if settings.worker_metrics_port is not None:
        # The worker's own counters (remote latency, 429s, retries, ops by outcome), on all interfaces: a
        # container's scraper reaches it from outside. The database's gauges are the API's /metrics.
        start_http_server(settings.worker_metrics_port)
        log.info("worker metrics", port=settings.worker_metrics_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("worker stopping", worker_id=worker.runtime.owner)
    await stop(worker)


def main(settings: Settings) -> None:
    asyncio.run(serve(settings))
