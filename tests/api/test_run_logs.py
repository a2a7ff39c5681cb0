"""Every run leaves one `run started` and one `run ended` line with what an operator needs (issue 17)."""

from __future__ import annotations

import io
import json

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person
from enrolsync.logs import configure_logging
from enrolsync.sync.run import runlog
from enrolsync.sync.store.tables import Run, RunStatus, utcnow
from tests.support.api import Execute, create_pipeline, run

SPEC = {"rules": [{"name": "all", "when": {"attr": "family_name", "op": "exists"}, "enrol": ["C1"]}]}


async def test_a_run_logs_its_start_and_its_end(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    _, data = memory
    for n in range(4):
        data.hris.put(Person(hr_id=f"L{n}", given_name="G", family_name=str(n), work_email=f"l{n}@example.com"))
    pipeline_id = await create_pipeline(client, ends, SPEC)
    with capture_logs() as logs:
        finished = await run(client, execute, pipeline_id)
    lines = {line["event"]: line for line in logs if line["event"] in ("run started", "run ended")}
    start, end = lines["run started"], lines["run ended"]
    assert (start["run_id"], start["pipeline_id"], start["mode"], start["scope"]) == (
        finished["id"],
        pipeline_id,
        "apply",
        "full",
    )
    assert start["trigger"] == "admin"
    assert (end["run_id"], end["status"], end["people_read"]) == (finished["id"], "succeeded", 4)
    assert end["ops"] == {"done": 8}  # four accounts, four enrolments
    assert end["duration_s"] is not None and end["duration_s"] >= 0
    assert [line["event"] for line in logs].count("run ended") == 1


@pytest.mark.usefixtures("restore_logging")
def test_the_end_line_is_one_json_object_when_configured() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    now = utcnow()
    failed = Run(
        id="r9", pipeline_id="p1", pipeline_version=1, trigger="schedule", mode="apply", scope="incremental",
        status=RunStatus.FAILED, error="TransientError: HTTP 503", started_at=now, finished_at=now, people_read=0,
    )  # fmt: skip
    runlog.ended(failed, {"create_user": {"not_attempted": 2}})
    structlog.reset_defaults()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "run ended" and line["level"] == "warning"
    assert (line["status"], line["scope"], line["ops"], line["duration_s"]) == (
        "failed",
        "incremental",
        {"not_attempted": 2},
        0.0,
    )
    assert line["error"] == "TransientError: HTTP 503"
