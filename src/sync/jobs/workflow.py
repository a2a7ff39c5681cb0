"""The durable-engine binding (DBOS Transact): a run's step sequence as one workflow, each step a DBOS step.

The sequence itself is `steps.run_sequence`, which tests drive directly; this module only binds it (and one
queue for runs) to DBOS, and nothing else imports dbos. A workflow's id is its run's id and generation, so
enqueueing a run twice runs it once. Each step is idempotent (see `steps.py`); a worker that dies lets its run's
lease lapse and another worker takes the run over as the next generation, which continues where the records say
the last one stopped (see `sync/run/lease.py`). DBOS keeps its state in a system database: a SQLite file beside
the app database on the embedded default, the app's PostgreSQL database (schema `dbos`) in production, where
workers on several machines share it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dbos import DBOS, DBOSClient, DBOSConfig, run_dbos_database_migrations
from dbos._error import DBOSNonExistentWorkflowError  # what `send` raises for no such workflow; not re-exported

from enrolsync.sync.run import steps
from enrolsync.sync.run.context import Runtime

T = TypeVar("T")
QUEUE = "enrolsync-runs"
WORKFLOW = "run_workflow"
FREE = "pipeline-free"  # the topic of the message a run that ends sends its pipeline's waiting run
# How often DBOS looks for messages where it cannot be told (SQLite; PostgreSQL notifies): a waiting run starts
# at most this long after the run before it ended. One indexed read per waiting run each time.
MESSAGE_POLL_SECONDS = 0.05

# DBOS workflows receive only the run id (job arguments carry ids, never credentials); the process's runtime is
# installed here once by `launch`.
_runtime: Runtime | None = None


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the durable engine was not launched in this process")
    return _runtime


async def durable_step(name: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The production `StepRunner`: run one step as a DBOS step, its result (or error) recorded under `name`, so a
    recovered workflow skips the steps it finished and replays their results."""

    # DBOS runs a coroutine *function* on the event loop; handed `fn` (a lambda returning a coroutine) it would
    # take it for a blocking function and run it in a thread.
    async def body() -> T:
        return await fn()

    return await DBOS.run_step_async({"name": name}, body)


async def wait_for_free(seconds: float) -> None:
    """The production `Pause`: wait for the message the pipeline's running run sends when it ends, at most
    `seconds`. Durable: a recovered workflow replays the waits it finished instead of waiting again."""
    await DBOS.recv_async(FREE, timeout_seconds=seconds)


async def wake(run_id: str, generation: int) -> None:
    """The production `Wake`: message the run's workflow that its pipeline is free. A workflow not yet made (its
    enqueue is still under way) needs none: it tries to start the moment it begins."""
    try:
        await DBOS.send_async(workflow_id(run_id, generation), True, FREE)
    except DBOSNonExistentWorkflowError:
        return


@DBOS.workflow()
async def run_workflow(run_id: str, generation: int = 0) -> str:
    """One run's workflow: the step sequence every test drives, each step durable, each pause a durable wait."""
    rt = _rt()
    return await steps.run_sequence(rt, run_id, generation, step=durable_step, pause=wait_for_free, wake=wake)


def workflow_id(run_id: str, generation: int = 0) -> str:
    return f"{run_id}.{generation}"


def _config(system_database_url: str, executor_id: str | None) -> DBOSConfig:
    config: DBOSConfig = {
        "name": "enrolsync",
        "system_database_url": system_database_url,
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": MESSAGE_POLL_SECONDS,
    }
    if executor_id:
        config["executor_id"] = executor_id
    return config


async def launch(
    runtime: Runtime, *, system_database_url: str, concurrency: int, executor_id: str | None = None
) -> None:
    """Start the engine in this process: recover this executor's unfinished runs, then take queued ones."""
    global _runtime
    _runtime = runtime
    DBOS(config=_config(system_database_url, executor_id))
    DBOS.launch()
    await DBOS.register_queue_async(QUEUE, worker_concurrency=concurrency, polling_interval_sec=0.2)


async def outcome(run_id: str, generation: int = 0) -> str:
    """Wait for a run's workflow to end and return what it returned (an event to await, not a poll)."""
    handle: Any = await DBOS.retrieve_workflow_async(workflow_id(run_id, generation))
    result: str = await handle.get_result()
    return result


async def state(run_id: str, generation: int) -> str | None:
    """DBOS's status of a run's workflow (ENQUEUED, PENDING, SUCCESS, ...), or None when there is none."""
    status: Any = await DBOS.get_workflow_status_async(workflow_id(run_id, generation))
    return None if status is None else str(status.status)


async def abandon(run_id: str, generation: int) -> None:
    """Cancel a superseded generation's workflow, so it holds no queue slot (its run continues as the next)."""
    try:
        await DBOS.cancel_workflow_async(workflow_id(run_id, generation))
    except Exception:  # a workflow that never existed or already ended needs no cancelling
        return


def migrate_system_database(system_database_url: str) -> None:
    """Create or upgrade DBOS's own tables (idempotent; `enrolsync migrate` and every process start call it)."""
    run_dbos_database_migrations(system_database_url)


def shutdown(timeout_seconds: int = 30) -> None:
    """Stop taking runs; wait up to `timeout_seconds` for those in flight (their progress is durable anyway)."""
    global _runtime
    DBOS.destroy(workflow_completion_timeout_sec=timeout_seconds)
    _runtime = None


class DbosRunQueue:
    """The `RunQueue` the API uses: enqueue a run by id through a DBOS client (no engine launched here)."""

    def __init__(self, system_database_url: str) -> None:
        # The API may start before any worker: make sure the engine's tables exist before enqueueing into them.
        migrate_system_database(system_database_url)
        self._client = DBOSClient(system_database_url=system_database_url)

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        """Idempotent per (run, generation): the workflow id is derived from both."""
        options: Any = {"queue_name": QUEUE, "workflow_name": WORKFLOW, "workflow_id": workflow_id(run_id, generation)}
        await self._client.enqueue_async(options, run_id, generation)

    def close(self) -> None:
        self._client.destroy()
