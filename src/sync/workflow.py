"""The durable-engine binding (DBOS Transact): one workflow per run, one step per stage, one queue for runs.

Nothing else imports dbos. The workflow id is the run id, so enqueueing a run twice runs it once, and a worker
that dies mid-run is resumed by DBOS at the first unfinished step (each step is idempotent; see `runner.py`).
DBOS keeps its state in a system database: a SQLite file beside the app database on the embedded default, the
app's PostgreSQL database (schema `dbos`) in production, where several workers on several machines share it.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, DBOSClient, DBOSConfig

from enrolsync.sync import runner
from enrolsync.sync.context import Runtime

QUEUE = "enrolsync-runs"
WORKFLOW = "run_workflow"

# DBOS steps receive only the run id (job arguments carry ids, never credentials); the process's runtime is
# installed here once by `launch`.
_runtime: Runtime | None = None


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the durable engine was not launched in this process")
    return _runtime


@DBOS.step()
async def begin_step(run_id: str) -> bool:
    return await runner.begin(_rt(), run_id)


@DBOS.step()
async def plan_step(run_id: str) -> None:
    await runner.plan(_rt(), run_id)


@DBOS.step()
async def guard_step(run_id: str) -> bool:
    return await runner.guard(_rt(), run_id)


@DBOS.step()
async def apply_step(run_id: str) -> None:
    await runner.apply(_rt(), run_id)


@DBOS.step()
async def finish_step(run_id: str) -> str:
    return await runner.finish(_rt(), run_id)


@DBOS.step()
async def fail_step(run_id: str, reason: str) -> None:
    await runner.fail(_rt(), run_id, reason)


@DBOS.step()
async def blocked_step(run_id: str) -> bool:
    return await runner.is_blocked(_rt(), run_id)


@DBOS.workflow()
async def run_workflow(run_id: str) -> str:
    try:
        if not await begin_step(run_id):
            return "skipped"
        await plan_step(run_id)
        if await guard_step(run_id):
            await apply_step(run_id)
        if await blocked_step(run_id):
            return "blocked"
        return await finish_step(run_id)
    except Exception as error:  # the run must end visibly failed, whatever broke
        await fail_step(run_id, runner.describe(error))
        return "failed"


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


async def outcome(run_id: str) -> str:
    """Wait for a run's workflow to end and return what it returned (an event to await, not a poll)."""
    handle = await DBOS.retrieve_workflow_async(run_id)
    result: str = await handle.get_result()
    return result


def shutdown(timeout_seconds: int = 30) -> None:
    """Stop taking runs; wait up to `timeout_seconds` for those in flight (their progress is durable anyway)."""
    global _runtime
    DBOS.destroy(workflow_completion_timeout_sec=timeout_seconds)
    _runtime = None


class DbosRunQueue:
    """The `RunQueue` the API uses: enqueue a run by id through a DBOS client (no engine launched here)."""

    def __init__(self, system_database_url: str) -> None:
        self._client = DBOSClient(system_database_url=system_database_url)

    async def enqueue(self, run_id: str) -> None:
        options: Any = {"queue_name": QUEUE, "workflow_name": WORKFLOW, "workflow_id": run_id}
        await self._client.enqueue_async(options, run_id)

    def close(self) -> None:
        self._client.destroy()
