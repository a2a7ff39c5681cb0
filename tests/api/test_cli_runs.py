"""The CLI for long work (issue 17): `--version`, `-h`, `pipelines`, `runs PIPELINE`, and `run PIPELINE` showing
progress and errors as they come and ending with the run's outcome."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from enrolsync import __version__, cli_runs
from enrolsync.cli import app
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person
from enrolsync.settings import Settings
from enrolsync.sync.run.context import Runtime
from tests.support import harness
from tests.support.api import Execute, create_pipeline, run
from tests.support.harness import RecordingQueue

pytestmark = pytest.mark.usefixtures("restore_logging")

SPEC = {"rules": [{"name": "all", "when": {"attr": "family_name", "op": "exists"}, "enrol": ["C1"]}]}


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    keys = ",".join(f'"{k.get_secret_value()}"' for k in settings.secret_keys)
    env = {
        "DATABASE_URL": settings.resolved_database_url(),
        "ENROLSYNC_DATA_DIR": str(settings.data_dir),
        "ENROLSYNC_SECRET_KEYS": f"[{keys}]",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_version_and_short_help(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"enrolsync {__version__}"
    helped = runner.invoke(app, ["-h"])
    assert helped.exit_code == 0
    for command in ("pipelines", "runs", "run", "check", "demo", "token"):
        assert command in helped.stdout
    assert runner.invoke(app, ["run", "-h"]).stdout.count("--dry-run") == 1


async def _people(data: Dataset, *names: str) -> None:
    for n, username in enumerate(names):
        data.hris.put(
            Person(hr_id=f"C{n}", given_name="G", family_name=str(n), work_email=f"c{n}@example.com", username=username)
        )


async def test_pipelines_and_runs_list_what_happened(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, settings: Settings
) -> None:
    await _people(memory[1], "ann", "bob")
    pipeline_id = await create_pipeline(client, ends, SPEC, name="onboarding")
    finished = await run(client, execute, pipeline_id)

    code, listed, _ = await asyncio.to_thread(_cli, settings, "pipelines")
    assert code == 0
    assert pipeline_id in listed and "onboarding" in listed and "succeeded" in listed and "ok" in listed
    code, runs, _ = await asyncio.to_thread(_cli, settings, "runs", "onboarding")
    assert code == 0
    row = next(line for line in runs.splitlines() if finished["id"] in line)
    assert "admin" in row and "apply" in row and "succeeded" in row and "4/4" in row

    code, out, err = await asyncio.to_thread(_cli, settings, "runs", "no-such-pipeline")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == ["enrolsync: error: no pipeline with id or name 'no-such-pipeline' "
                                        "(see: enrolsync pipelines)"]  # fmt: skip


async def test_run_shows_progress_and_errors_as_they_come(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    settings: Settings,
    runtime: Runtime,
    execute: Execute,
) -> None:
    data = memory[1]
    await _people(data, "ann", "bob", "cy")
    pipeline_id = await create_pipeline(client, ends, SPEC, name="onboarding")
    await run(client, execute, pipeline_id)
    # Bob's account vanishes from the LMS behind our back and HR renames him: his update meets no account.
    bob = data.hris.persons["C1"]
    data.hris.put(bob.model_copy(update={"family_name": "Renamed"}))
    del data.lms.accounts[next(a for a, acc in data.lms.accounts.items() if acc.fields.email == "c1@example.com")]
    queue = RecordingQueue()
    console = Console(file=io.StringIO(), width=120)
    polls: list[str] = []

    async def worker_meanwhile(_: float) -> None:
        # The first poll found the run queued; a worker then executes it, as `enrolsync worker` would.
        polls.append("poll")
        if len(polls) == 1:
            await harness.execute(runtime, queue.ids[0])

    outcome = await cli_runs.request_and_watch(
        settings, "onboarding", mode="apply", scope="incremental", queue=queue, console=console, sleep=worker_meanwhile
    )

    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert outcome.run.status == "failed" and outcome.failed_ops == 1
    assert f"requested run {outcome.run.id} of onboarding (apply, incremental)" in shown
    assert "no worker seen in the last 60 s" in shown
    assert "failed C1: update_user: account not found" in shown
    assert "people read" in shown and "operations applied" in shown and "0/1" in shown


async def test_a_dry_run_request_returns_at_once_without_wait(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], settings: Settings
) -> None:
    await _people(memory[1], "ann")
    pipeline_id = await create_pipeline(client, ends, SPEC, name="onboarding")
    queue = RecordingQueue()
    outcome = await cli_runs.request_and_watch(
        settings, pipeline_id, mode="plan", scope="full", queue=queue, console=Console(file=io.StringIO()), wait=False
    )
    assert (outcome.run.mode, outcome.run.status, queue.ids) == ("plan", "queued", [outcome.run.id])


async def test_a_run_of_named_people(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], settings: Settings
) -> None:
    await _people(memory[1], "ann", "bob")
    await create_pipeline(client, ends, SPEC, name="onboarding")
    outcome = await cli_runs.request_and_watch(
        settings, "onboarding", mode="apply", scope="people", hr_ids=["C1"], queue=RecordingQueue(),
        console=Console(file=io.StringIO()), wait=False,
    )  # fmt: skip
    assert (outcome.run.scope, outcome.run.hr_ids) == ("people", ["C1"])
