"""A remote system that echoes our request in its error leaves no credential in what viewers read: the run's
error and the pipeline's quarantine reason (both stored, on both databases)."""

from __future__ import annotations

import base64

from sqlmodel import select

from enrolsync.sync.store.tables import PipelineHealth
from tests.support.systems import SCENARIO_HR_KEY
from tests.support.systems import Systems as Scenario


async def test_an_echoed_request_line_and_auth_header_never_reach_the_run_error(scenario: Scenario) -> None:
    scenario.hire("Ada", "Lovelace", "Sales")
    basic = base64.b64encode(f"{SCENARIO_HR_KEY}:x".encode()).decode()
    echoed = f"bad request: GET /v1/employees/changed?auth=Basic {basic} (Authorization: Basic {basic})"
    scenario.hr.fail_next(20, status=400, headers={"x-bamboohr-error-message": echoed})

    run = await scenario.run()

    assert run.status == "failed" and run.error is not None
    assert "bad request" in run.error and "[redacted]" in run.error  # the reason is shown, its secrets are not
    assert basic not in run.error and SCENARIO_HR_KEY not in run.error
    async with scenario.rt.sessions() as session:
        reasons = [h.last_error for h in (await session.exec(select(PipelineHealth))).all()]
    assert reasons and all(reason and "[redacted]" in reason and basic not in reason for reason in reasons)
