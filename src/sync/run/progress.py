"""Progress read back from the target on full runs (issue 16): read only, never a write to the target.

The target lists the progress of every enrolment in the courses the pipeline manages (those its links hold as
applied); only linked accounts are kept, keyed to their person, and the pipeline's stored progress is replaced
in one commit. A target without PROGRESS is skipped; a failed read leaves the stored progress as it was and
is reported on the run (`counters["progress"]["error"]`) without failing it: enrolments were applied regardless.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel import col, select

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.errors import ConnectorError
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.store import repo_progress
from enrolsync.sync.store.tables import Link

log = structlog.get_logger("enrolsync.progress")


async def _managed(rt: Runtime, pipeline_id: str) -> tuple[dict[str, str], set[str]]:
    """Linked account id -> hr_id, and the course ids the links hold as applied."""
    owners: dict[str, str] = {}
    courses: set[str] = set()
    async with rt.sessions() as session:
        stmt = select(Link).where(col(Link.pipeline_id) == pipeline_id, col(Link.account_id).is_not(None))
        for link in (await session.exec(stmt)).all():
            if link.account_id:
                owners[link.account_id] = link.hr_id
                courses.update(str(c) for c in (link.applied or {}).get("enrolments") or ())
    return owners, courses


async def read_back(rt: Runtime, ctx: RunContext) -> dict[str, Any] | None:
    """Read and store the pipeline's enrolment progress on a full run; the run's `progress` counters, or None
    when this run reads none (not a full run, or a target without PROGRESS)."""
    if ctx.scope != "full" or Capability.PROGRESS not in ctx.target.cls.info.capabilities:
        return None
    owners, courses = await _managed(rt, ctx.pipeline_id)
    readings: list[repo_progress.Reading] = []
    try:
        async with rt.clients.connector(ctx.target.cls, ctx.target.config) as target:
            if not isinstance(target, ProgressReader):  # declared but not implemented: the contract suite says so
                return {"error": "the target declares progress but cannot list it"}
            if courses:
                async for item in target.list_progress(course_ids=sorted(courses)):
                    hr_id = owners.get(item.account_id)
                    if hr_id is None:
                        continue
                    readings.append(
                        repo_progress.Reading(
                            hr_id=hr_id,
                            course_id=item.course_id,
                            account_id=item.account_id,
                            state=str(item.state),
                            percent=item.percent,
                            completed_at=item.completed_at,
                            last_activity_at=item.last_activity_at,
                        )
                    )
    except ConnectorError as error:
        log.warning("progress read failed", run_id=ctx.run_id, error=type(error).__name__)
        return {"error": f"{type(error).__name__}: {error}"[:500]}
    async with rt.sessions() as session:
        saved = await repo_progress.save_readings(session, pipeline_id=ctx.pipeline_id, readings=readings)
        await session.commit()
    log.info("progress read", run_id=ctx.run_id, seen=saved.seen, changed=saved.changed)
    return {"seen": saved.seen, "new": saved.new, "changed": saved.changed, "completed": saved.completed}
