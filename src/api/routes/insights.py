"""Learning progress aggregated for L&D and business leaders: the pipeline's people by department, location or
manager, with completion and overdue counts per course; and the record of each progress read (issue 16)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import col, select

from enrolsync.api import queries
from enrolsync.api.auth import require
from enrolsync.api.deps import AfterQuery, ClockDep, LimitQuery, SessionDep
from enrolsync.api.insights import csv_response, summarise, to_csv, wants_csv
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas import Page
from enrolsync.api.schemas_insights import ProgressReadPublic, SummaryBy, SummaryPublic
from enrolsync.connectors.model import Person
from enrolsync.sync.rules.spec import PipelineSpec
from enrolsync.sync.run.org import known_person
from enrolsync.sync.store.repo_progress import progress_of
from enrolsync.sync.store.tables import ApiRole, Link, Pipeline, ProgressRead

router = APIRouter(
    prefix="/pipelines/{pipeline_id}", tags=["insights"], dependencies=[Depends(require(ApiRole.VIEWER))]
)

READS_ORDER: queries.Keyset[ProgressRead] = queries.Keyset(
    ProgressRead, (col(ProgressRead.started_at), col(ProgressRead.id)), descending=True
)

SUMMARY_CSV = (
    "key",
    "course",
    "enrolled",
    "not_started",
    "in_progress",
    "completed",
    "failed",
    "overdue",
    "completion_rate",
)


@router.get(
    "/summary",
    response_model=SummaryPublic,
    responses={**problem_responses(404, 422), 200: {"content": {"text/csv": {}}}},
)
async def get_summary(
    pipeline_id: str,
    request: Request,
    session: SessionDep,
    now: ClockDep,
    by: Annotated[SummaryBy, Query(description="Group people by this HR attribute (manager: direct manager).")],
) -> SummaryPublic | Response:
    """Enrolment progress per course for each group of the pipeline's current people (leavers are not counted),
    and the total the groups add up to. `Accept: text/csv` answers one row per group and course."""
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise not_found("pipeline", pipeline_id)
    spec = PipelineSpec.model_validate(pipeline.spec)
    links = (await session.exec(select(Link).where(col(Link.pipeline_id) == pipeline_id))).all()
    people: list[Person] = [p for link in links if (p := known_person(link)) is not None]
    progress = await progress_of(session, pipeline_id=pipeline_id)
    groups, total = summarise(people, progress, by=by, policies=spec.policies, today=now().date())
    if wants_csv(request):
        rows = [
            {"key": group.key, **course.model_dump(mode="json")}
            for group in [*groups, total.model_copy(update={"key": "(total)"})]
            for course in group.courses
        ]
        return csv_response(to_csv(SUMMARY_CSV, rows), f"summary-by-{by}.csv")
    return SummaryPublic(pipeline_id=pipeline_id, by=by, groups=groups, total=total)


@router.get("/progress/reads", responses=problem_responses(400, 404))
async def list_progress_reads(
    pipeline_id: str, session: SessionDep, after: AfterQuery = None, limit: LimitQuery = queries.DEFAULT_LIMIT
) -> Page[ProgressReadPublic]:
    """The pipeline's progress reads, newest first: full runs' and scheduled ones, each with what it asked for
    (`since`), what it found, and how long it took."""
    if await session.get(Pipeline, pipeline_id) is None:
        raise not_found("pipeline", pipeline_id)
    stmt = select(ProgressRead).where(col(ProgressRead.pipeline_id) == pipeline_id)
    items, following = await queries.page(session, stmt, READS_ORDER, after=after, limit=limit)
    return Page(items=[_read_public(read) for read in items], next=following)


def _read_public(read: ProgressRead) -> ProgressReadPublic:
    took = (read.finished_at - read.started_at).total_seconds() if read.finished_at else None
    return ProgressReadPublic.model_validate(
        read.model_dump() | {"duration_seconds": None if took is None else round(max(took, 0.0), 3)}
    )
