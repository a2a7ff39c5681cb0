"""The durable-engine binding (DBOS Transact): one workflow per run, one step per stage, one queue for runs.

Nothing else imports dbos. A workflow's id is its run's id and generation, so enqueueing a run twice runs it
once. Each step is idempotent (see `steps.py`); a worker that dies lets its run's lease lapse and another worker
takes the run over as the next generation, which continues where the records say the last one stopped (see
`sync/run/lease.py`). DBOS keeps its state in a system database: a SQLite file beside the app database on the embedded
default, the app's PostgreSQL database (schema `dbos`) in production, where workers on several machines share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dbos import DBOS, DBOSClient, DBOSConfig, run_dbos_database_migrations

from enrolsync.sync.run import lease, steps
from enrolsync.sync.run.context import Runtime

T = TypeVar("T")
QUEUE = "enrolsync-runs"
WORKFLOW = "run_workflow"

# DBOS steps receive only the run id (job arguments carry ids, never credentials); the process's runtime is
# installed here once by `launch`.
_runtime: Runtime | None = None


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the durable engine was not launched in this process")
    return _runtime


WAIT_SECONDS = 2.0  # how often a run waiting for its pipeline's other run looks again (a durable sleep)


@DBOS.step()
async def begin_step(run_id: str, generation: int) -> str:
    return str(await steps.begin(_rt(), run_id, generation))


async def _held(run_id: str, generation: int, step: Callable[[], Awaitable[T]]) -> T:
    return await lease.holding(_rt(), run_id, generation, step)


@DBOS.step()
async def plan_step(run_id: str, generation: int) -> None:
    await _held(run_id, generation, lambda: steps.plan(_rt(), run_id))


@DBOS.step()
async def guard_step(run_id: str, generation: int) -> bool:
    return await _held(run_id, generation, lambda: steps.guard(_rt(), run_id))


@DBOS.step()
async def apply_step(run_id: str, generation: int) -> bool:
    done = await _held(run_id, generation, lambda: steps.apply(_rt(), run_id, generation))
    if not done:
        await lease.release(_rt(), run_id, generation)
    return done


@DBOS.step()
async def finish_step(run_id: str, generation: int) -> str:
    return await _held(run_id, generation, lambda: steps.finish(_rt(), run_id))


@DBOS.step()
async def fail_step(run_id: str, reason: str) -> None:
    await steps.fail(_rt(), run_id, reason)


@DBOS.step()
async def release_step(run_id: str, generation: int) -> None:
    try:
        await lease.release(_rt(), run_id, generation)
    except Exception as error:  # still unreachable: the lease lapses by itself
        if not steps.database_gone(error):
            raise


@DBOS.step()
async def blocked_step(run_id: str) -> bool:
    return await steps.is_blocked(_rt(), run_id)


@DBOS.workflow()
async def run_workflow(run_id: str, generation: int = 0) -> str:
    claim = await begin_step(run_id, generation)
    while claim == lease.Claim.WAIT:
        await DBOS.sleep_async(WAIT_SECONDS)
        claim = await begin_step(run_id, generation)
    if claim != lease.Claim.GO:
        return "skipped"
    try:
        await plan_step(run_id, generation)
        if await guard_step(run_id, generation) and not await apply_step(run_id, generation):
            return "interrupted"  # shutting down or taken over: the run's records say where it stopped
        if await blocked_step(run_id):
            return "blocked"
        return await finish_step(run_id, generation)
    except lease.LeaseLost:
        return "superseded"
    except Exception as error:  # the run must end visibly failed, whatever broke
        if steps.database_gone(error):
            # Our database went away mid-step: hand the run back; a worker takes it over as the next
            # generation once the database answers (see `steps.execute`).
            await release_step(run_id, generation)
            return "interrupted"
        await fail_step(run_id, steps.describe(error))
        return "failed"


def workflow_id(run_id: str, generation: int = 0) -> str:
    return f"{run_id}.{generation}"


def _config(system_database_url: str, executor_id: str | None) -> DBOSConfig:
    config: DBOSConfig = {
        "name": "enrolsync",
        "system_database_url": system_database_url,
        "log_level": "WARNING",
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
