"""The web page at `/ui`: server-rendered views over the same handlers the JSON API answers with.

Each page calls the JSON route's own function (`routes.runs.get_run`, `routes.people.get_person`, ...) with the
signed-in principal, so a page shows exactly what the API would answer and refuses what it would refuse. Forms
post back here (CSRF-checked, see `session.py`) and redirect to the page they act on.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import structlog
from fastapi import APIRouter, FastAPI, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlmodel import col, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import HTTPExceptionHandler

from enrolsync.api.auth import Principal
from enrolsync.api.deps import BoxDep, ClientsDep, ClockDep, QueueDep, RegistryDep, SessionDep, SettingsDep
from enrolsync.api.problems import Problem, conflict
from enrolsync.api.routes import connections, people, pipelines, quarantine, run_control, runs
from enrolsync.api.routes.quarantine import pipeline_quarantine
from enrolsync.api.schemas import RunCreate
from enrolsync.api.schemas_people import TeamPublic
from enrolsync.api.ui.render import HERE, LIVE, SECURITY_HEADERS, render
from enrolsync.api.ui.session import (
    COOKIE,
    COOKIE_PATH,
    MAX_TOKEN,
    AdminPage,
    CheckedForm,
    ManagerPage,
    OperatorPage,
    PageForbidden,
    SignInNeeded,
    ViewerPage,
    principal_for,
    same_origin,
)
from enrolsync.api.ui.sso import enabled as sso_enabled
from enrolsync.api.ui.sso import router as sso_router
from enrolsync.connectors.ops import OpKind
from enrolsync.sync.run.quarantine import PipelineQuarantined
from enrolsync.sync.store.tables import ApiRole, Link, Pipeline, RunMode, RunOpStatus

router = APIRouter(prefix="/ui", include_in_schema=False)
log = structlog.get_logger("enrolsync.api")

PAGE_SIZE = 50


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def _safe_next(target: str | None) -> str:
    """Only a path of this page is a place to go after signing in (never another site)."""
    if target and target.startswith(COOKIE_PATH) and not target.startswith("//") and "\\" not in target:
        return target
    return COOKIE_PATH


# -- signing in and out ---------------------------------------------------------------------------------------


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "sign_in.html", None, next=_safe_next(next), error=None, sso=sso_enabled(request))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=MAX_TOKEN)],
    next: Annotated[str, Form(max_length=2000)] = COOKIE_PATH,
) -> Response:
    """Check the token as the API would; keep it in an HttpOnly, SameSite=Strict cookie scoped to /ui."""
    secret = token.strip()
    if not same_origin(request):  # another site signing you in as someone else ("login CSRF")
        raise PageForbidden("the sign-in form came from another site; open this site's sign-in page")
    try:
        principal = await principal_for(request, secret)
    except Problem as error:
        log.info("ui.sign_in_refused", status=error.status)
        return render(
            request, "sign_in.html", None, 401, next=_safe_next(next), error=error.detail, sso=sso_enabled(request)
        )
    response = _back(_safe_next(next))
    response.set_cookie(
        COOKIE,
        secret,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    log.info("ui.signed_in", subject=principal.subject, role=principal.role.value)
    return response


@router.post("/sign-out", dependencies=[CheckedForm])
async def sign_out(principal: ManagerPage) -> Response:
    response = _back(f"{COOKIE_PATH}/sign-in")
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    log.info("ui.signed_out", subject=principal.subject)
    return response


# -- pipelines ------------------------------------------------------------------------------------------------


@router.get("")
async def pipelines_page(
    request: Request, principal: ManagerPage, session: SessionDep, now: ClockDep, after: str | None = None
) -> HTMLResponse:
    """Every pipeline with its last run, schedule, health and quarantine; for a manager, their own team."""
    if principal.role is ApiRole.MANAGER:
        return await _manager_home(request, principal, session)
    page = await pipelines.list_pipelines(principal, session, after=after, limit=PAGE_SIZE)
    rows = []
    for pipeline in page.items:
        last = await runs.list_runs(pipeline.id, principal, session, now, after=None, limit=1)
        rows.append(
            {
                "pipeline": pipeline,
                "last_run": last.items[0] if last.items else None,
                "health": await pipeline_quarantine(session, pipeline.id),
            }
        )
    return render(request, "pipelines.html", principal, rows=rows, next=page.next)


async def _manager_home(request: Request, principal: Principal, session: SessionDep) -> HTMLResponse:
    """A manager's start page: their team in each pipeline that knows them (nothing else of the pipelines)."""
    stmt = (
        select(Pipeline.id, Pipeline.name)
        .join(Link, col(Link.pipeline_id) == col(Pipeline.id))
        .where(col(Link.hr_id) == (principal.hr_id or ""))
        .order_by(col(Pipeline.name))
    )
    teams = [{"id": pid, "name": name} for pid, name in (await session.exec(stmt)).all()]
    return render(request, "my_team.html", principal, teams=teams)


@router.get("/pipelines/{pipeline_id}")
async def pipeline_page(
    request: Request,
    pipeline_id: str,
    principal: ViewerPage,
    session: SessionDep,
    now: ClockDep,
    after: str | None = None,
) -> HTMLResponse:
    """One pipeline: its schedule, health, recent runs, and a lookup of a person by work email or HR id."""
    pipeline = await pipelines.get_pipeline(pipeline_id, principal, session)
    recent = await runs.list_runs(pipeline_id, principal, session, now, after=after, limit=PAGE_SIZE)
    return render(request, "pipeline.html", principal, pipeline=pipeline, runs=recent.items, next=recent.next)


@router.post("/pipelines/{pipeline_id}/runs", dependencies=[CheckedForm])
async def start_run(
    pipeline_id: str,
    principal: OperatorPage,
    session: SessionDep,
    queue: QueueDep,
    now: ClockDep,
    mode: Annotated[RunMode, Form()] = "plan",
) -> Response:
    """Queue a run (a dry run unless `mode` is apply) and show it (the active run, when there is one)."""
    try:
        run = await runs.start_run(pipeline_id, principal, session, queue, now, Response(), RunCreate(mode=mode))
    except PipelineQuarantined as error:
        message = f"the pipeline is quarantined: {error.reason}; lift the quarantine once the cause is fixed"
        raise conflict(message) from None
    return _back(f"{COOKIE_PATH}/runs/{run.id}")


@router.post("/pipelines/{pipeline_id}/quarantine/lift", dependencies=[CheckedForm])
async def lift_quarantine(pipeline_id: str, principal: OperatorPage, session: SessionDep, now: ClockDep) -> Response:
    """End the pipeline's quarantine once its cause is fixed."""
    await quarantine.lift_quarantine(pipeline_id, principal, session, now)
    return _back(f"{COOKIE_PATH}/pipelines/{pipeline_id}")


# -- runs -----------------------------------------------------------------------------------------------------


async def _run_context(run_id: str, principal: Principal, session: SessionDep, now: ClockDep) -> dict[str, Any]:
    run = await runs.get_run(run_id, principal, session, now)
    return {"run": run, "live": run.status in LIVE}


@router.get("/runs/{run_id}")
async def run_page(
    request: Request,
    run_id: str,
    principal: ViewerPage,
    session: SessionDep,
    now: ClockDep,
    hr_id: Annotated[str | None, Query(max_length=200)] = None,
    kind: str | None = None,
    status: str | None = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A run: status and progress (updated live while it is queued or running), its operations filterable by
    person, kind and outcome, and approve / cancel for operators."""
    context = await _run_context(run_id, principal, session, now)
    chosen_kind = OpKind(kind) if kind in {k.value for k in OpKind} else None
    chosen_status = RunOpStatus(status) if status in {s.value for s in RunOpStatus} else None
    ops = await runs.list_operations(
        run_id,
        principal,
        session,
        hr_id=hr_id or None,
        kind=chosen_kind,
        status=chosen_status,
        after=after,
        limit=PAGE_SIZE,
    )
    filters = {"hr_id": hr_id or "", "kind": chosen_kind.value if chosen_kind else "", "status": chosen_status}
    return render(
        request,
        "run.html",
        principal,
        **context,
        ops=ops.items,
        next=ops.next,
        filters=filters,
        kinds=[k.value for k in OpKind],
        outcomes=[s.value for s in RunOpStatus],
    )


@router.get("/runs/{run_id}/progress")
async def run_progress(
    request: Request, run_id: str, principal: ViewerPage, session: SessionDep, now: ClockDep
) -> HTMLResponse:
    """The live part of the run page, polled by the page's script while the run is queued or running."""
    context = await _run_context(run_id, principal, session, now)
    return render(request, "_run_progress.html", principal, **context)


@router.post("/runs/{run_id}/approve", dependencies=[CheckedForm])
async def approve_run(
    run_id: str, principal: OperatorPage, session: SessionDep, queue: QueueDep, now: ClockDep
) -> Response:
    await run_control.approve_run(run_id, principal, session, queue, now)
    return _back(f"{COOKIE_PATH}/runs/{run_id}")


@router.post("/runs/{run_id}/apply", dependencies=[CheckedForm])
async def apply_plan(
    run_id: str, principal: OperatorPage, session: SessionDep, queue: QueueDep, now: ClockDep, settings: SettingsDep
) -> Response:
    """Apply exactly what a finished dry run planned, as a new run, and show that run."""
    run = await run_control.apply_plan(run_id, principal, session, queue, now, settings, Response())
    return _back(f"{COOKIE_PATH}/runs/{run.id}")


@router.post("/runs/{run_id}/cancel", dependencies=[CheckedForm])
async def cancel_run(run_id: str, principal: OperatorPage, session: SessionDep, now: ClockDep) -> Response:
    await run_control.cancel_run(run_id, principal, session, now)
    return _back(f"{COOKIE_PATH}/runs/{run_id}")


# -- connections ----------------------------------------------------------------------------------------------


async def _connections_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    checked: dict[str, Any] | None = None,
) -> HTMLResponse:
    page = await connections.list_connections(principal, session, registry, box, after=None, limit=100)
    base = str(request.base_url).rstrip("/")
    return render(request, "connections.html", principal, connections=page.items, checked=checked, base=base)


@router.get("/connections")
async def connections_page(
    request: Request, principal: ViewerPage, session: SessionDep, registry: RegistryDep, box: BoxDep
) -> HTMLResponse:
    """Connections with their options, which secrets are set (never their values) and their webhook URL."""
    return await _connections_page(request, principal, session, registry, box)


@router.post("/connections/{connection_id}/check", dependencies=[CheckedForm])
async def check_connection(
    request: Request,
    connection_id: str,
    principal: AdminPage,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    clients: ClientsDep,
) -> HTMLResponse:
    """Reach the connection's system and show the answer beside it."""
    result = await connections.check(connection_id, principal, session, registry, box, clients)
    checked = {"id": connection_id, "ok": result.ok, "detail": result.detail, "facts": result.facts}
    return await _connections_page(request, principal, session, registry, box, checked)


# -- people ---------------------------------------------------------------------------------------------------


@router.get("/pipelines/{pipeline_id}/people")
async def find_people(
    request: Request,
    pipeline_id: str,
    principal: ViewerPage,
    session: SessionDep,
    now: ClockDep,
    email: Annotated[str, Query(max_length=320)] = "",
    hr_id: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Find a person by work email (or go straight to an HR id)."""
    if hr_id.strip():
        return _back(f"{COOKIE_PATH}/pipelines/{pipeline_id}/people/{hr_id.strip()}")
    pipeline = await pipelines.get_pipeline(pipeline_id, principal, session)
    found = None
    if len(email.strip()) >= 3:
        found = (await people.find_people(pipeline_id, session, now, email=email)).items
    return render(request, "people.html", principal, pipeline=pipeline, email=email, found=found)


@router.get("/pipelines/{pipeline_id}/people/{hr_id}")
async def person_page(
    request: Request, pipeline_id: str, hr_id: str, principal: ViewerPage, session: SessionDep, now: ClockDep
) -> HTMLResponse:
    """A person's sync story: their situation in words, each rule with why it matched, what is pending."""
    pipeline = await pipelines.get_pipeline(pipeline_id, principal, session)
    story = await people.get_person(pipeline_id, hr_id, session, now)
    return render(request, "person.html", principal, pipeline=pipeline, story=story)


@router.get("/pipelines/{pipeline_id}/teams/{manager_hr_id}")
async def team_page(
    request: Request,
    pipeline_id: str,
    manager_hr_id: str,
    principal: ManagerPage,
    session: SessionDep,
    now: ClockDep,
    depth: Annotated[int, Query(ge=1, le=people.MAX_DEPTH)] = 1,
) -> HTMLResponse:
    """A manager's team: each member's enrolments with their progress (state, completion, due date, overdue, last
    activity) and sync state, and the team's summary per course. A signed-in manager may open their own team and
    those of the managers under them (the API route refuses any other with 403)."""
    team = await people.get_team(pipeline_id, manager_hr_id, request, session, now, principal, depth=depth)
    if not isinstance(team, TeamPublic):  # the API's CSV answer: the page asks for HTML, so never this
        return HTMLResponse("this page answers in HTML only", status_code=406)
    pipeline = await session.get(Pipeline, pipeline_id)  # its name only: a manager may not read the pipeline itself
    name = pipeline.name if pipeline is not None else pipeline_id
    return render(
        request,
        "team.html",
        principal,
        pipeline={"id": pipeline_id, "name": name},
        team=team,
        max_depth=people.MAX_DEPTH,
    )


# -- wiring ---------------------------------------------------------------------------------------------------


async def _delegate(handler: HTTPExceptionHandler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return answer if isinstance(answer, Response) else await answer


def install(app: FastAPI) -> None:
    """Serve the page on `app`: its routes, its static files and HTML answers for errors under /ui."""
    app.include_router(router)
    app.include_router(sso_router)
    app.mount(f"{COOKIE_PATH}/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    # The API's own handlers (problems.install), still answering everywhere but under /ui.
    api_problem = cast(HTTPExceptionHandler, app.exception_handlers[Problem])
    api_http = cast(HTTPExceptionHandler, app.exception_handlers[StarletteHTTPException])

    async def on_sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)  # noqa: S101 - registered for this class only
        return _back(exc.location())

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)  # noqa: S101 - registered for this class only
        return render(request, "error.html", None, 403, status=403, title="Not allowed", detail=exc.detail)

    async def on_problem(request: Request, exc: Exception) -> Response:
        # Under /ui an API refusal (404, 409...) is a page saying so; elsewhere the API's problem document.
        if isinstance(exc, Problem) and request.url.path.startswith(f"{COOKIE_PATH}/"):
            return render(
                request, "error.html", None, exc.status, status=exc.status, title=exc.title, detail=exc.detail
            )
        return await _delegate(api_problem, request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and request.url.path.startswith(f"{COOKIE_PATH}/"):
            detail = exc.detail if exc.status_code < 500 else "Something went wrong."
            return render(request, "error.html", None, exc.status_code, status=exc.status_code, title="", detail=detail)
        return await _delegate(api_http, request, exc)

    app.add_exception_handler(SignInNeeded, on_sign_in_needed)
    app.add_exception_handler(PageForbidden, on_forbidden)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
