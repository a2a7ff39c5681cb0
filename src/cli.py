"""The `enrolsync` command: serve the API, run the worker, migrate the database, run the demo, check a connection,
upload a csv connection's file, manage API tokens.

Settings are built here, once per command, from the environment. A problem the user can fix (an unreachable
database, a malformed DATABASE_URL, a bad secret key, an unknown connection id) prints one line to standard
error and exits with status 1; tracebacks are for bugs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync import __version__, cli_runs, cli_uploads
from enrolsync.api import audit
from enrolsync.api.app import create_app, default_queue
from enrolsync.api.auth import Principal
from enrolsync.api.checking import check_connection
from enrolsync.api.tokens import issue_token, list_tokens, revoke_token, token_state
from enrolsync.logs import configure_logging
from enrolsync.settings import Settings
from enrolsync.sync.jobs import uploads
from enrolsync.sync.jobs.root import open_root
from enrolsync.sync.run.quarantine import PipelineQuarantined
from enrolsync.sync.store.db import backend_name
from enrolsync.sync.store.migrate import current_revision, upgrade
from enrolsync.sync.store.tables import ApiRole, ApiToken, Connection, utcnow

T = TypeVar("T")

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="enrolsync",
    help="Sync people from HR systems into learning platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
)
token_app = typer.Typer(
    help="Manage the API tokens of the REST API.", no_args_is_help=True, context_settings=HELP_OPTIONS
)
app.add_typer(token_app, name="token")

# Whoever runs the CLI on the server can read its database anyway; the audit trail names them `cli`.
_CLI = Principal(subject="cli", name="enrolsync token", role=ApiRole.ADMIN)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"enrolsync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Sync people from HR systems into learning platforms."""


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def fail(message: str) -> NoReturn:
    """Print `enrolsync: error: <message>` to standard error and exit 1."""
    typer.echo(f"enrolsync: error: {message}", err=True)
    raise typer.Exit(1)


def _database_message(error: DBAPIError) -> str:
    # The driver's first line says what happened (refused, unknown host, bad password) without the SQL.
    first = str(error.orig).strip().splitlines() if error.orig is not None else []
    return f"database error: {first[0] if first else type(error).__name__}"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one line on standard error and exit status 1."""
    try:
        yield
    except UserError as error:
        fail(str(error))
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(settings)" for e in error.errors())
        fail(f"invalid settings: {fields} (check the ENROLSYNC_* environment variables)")
    except DBAPIError as error:  # the database refused or failed; other SQLAlchemy errors are bugs
        fail(_database_message(error))
    except (cli_runs.NotFound, cli_uploads.NotFound) as error:
        fail(str(error))
    except (uploads.NotUploadable, uploads.UploadTooLarge, uploads.UploadRefused) as error:
        fail(str(error))
    except PipelineQuarantined as error:
        fail(str(error))
    except (ValueError, OSError) as error:
        # Bad DATABASE_URL scheme, unreadable key file, bad Fernet key: their messages carry no secret.
        fail(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


def _settings() -> Settings:
    with user_errors():
        settings = Settings()
        _check_database_url(settings.resolved_database_url())
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _check_database_url(url: str) -> None:
    try:
        backend_name(url)
    except ArgumentError:
        raise UserError(
            "DATABASE_URL is not a valid database URL (expected sqlite:///path or postgresql://user@host/db)"
        ) from None


def _preflight(settings: Settings) -> None:
    """Open the composition root once now (migrating, reading the secret keys), so a bad database or key fails
    with one line, not a server trace."""

    async def probe() -> None:
        async with await open_root(settings):
            return

    with user_errors():
        asyncio.run(probe())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST control plane (migrates the database first)."""
    settings = _settings()
    _preflight(settings)
    # log_config=None keeps uvicorn from replacing the logging set up above (one format, secrets redacted).
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema (the API and the worker also do this on start)."""
    settings = _settings()
    with user_errors():
        upgrade(settings.resolved_database_url())
        revision = current_revision(settings.resolved_database_url())
        from enrolsync.sync.jobs.workflow import migrate_system_database

        migrate_system_database(settings.resolved_system_database_url())
    typer.echo(f"database at revision {revision}; job engine tables ready")


@app.command()
def worker() -> None:
    """Execute queued runs until stopped (SIGTERM or Ctrl-C)."""
    settings = _settings()
    _preflight(settings)
    from enrolsync.sync.jobs.worker import main as worker_main

    with user_errors():
        worker_main(settings)


@app.command()
def demo(
    people: Annotated[int, typer.Option(min=2, max=50_000, help="Size of the fake company.")] = 60,
    keep_running: Annotated[bool, typer.Option(help="Keep the service up afterwards to explore the API.")] = False,
    verbose: Annotated[bool, typer.Option(help="Show the service's own log lines.")] = False,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Where the API listens (0: any free port).")
    ] = None,
) -> None:
    """Run the demo: fake BambooHR and Moodle, a pipeline between them, a dry run, syncs and HR changes."""
    settings = _settings()
    if not verbose:
        # The demo prints its own report; the service's INFO lines would bury it.
        configure_logging("WARNING", settings.log_json)
    from enrolsync.demo import main as demo_main

    with user_errors():
        demo_main(settings, people=people, keep_running=keep_running, port=port)


@app.command()
def check(connection_id: Annotated[str, typer.Argument(help="The id of a stored connection.")]) -> None:
    """Check a stored connection: reach its system and prove its credentials. Exits 1 when the check fails."""
    settings = _settings()
    _quiet(settings)  # the answer is one line; the service's INFO lines about it would bury it
    with user_errors():
        ok, detail = asyncio.run(_check(settings, connection_id))
    typer.echo(f"{'ok' if ok else 'failed'}: {detail}")
    if not ok:
        raise typer.Exit(1)


@app.command()
def upload(
    connection: Annotated[str, typer.Argument(help="The csv connection's id or name (its origin must be `upload`).")],
    file: Annotated[Path, typer.Argument(help="The export file.", exists=True, dir_okay=False, readable=True)],
) -> None:
    """Upload a csv connection's next file (streamed, never whole in memory) and request a full run of each pipeline
    it feeds; a worker reads it. Prints the upload's id, size and SHA-256, and the runs requested."""
    settings = _settings()
    _quiet(settings)

    async def go() -> uploads.Received:
        async with default_queue(settings) as queue:
            return await cli_uploads.upload(settings, connection, file, queue=queue, principal=_CLI)

    with user_errors():
        received = asyncio.run(go())
    done = received.upload
    typer.echo(f"upload {done.id}: {done.size} bytes, sha256 {done.sha256}")
    for asked in received.runs:
        if asked.run_id is None:
            typer.echo(f"pipeline {asked.pipeline_id}: no run ({asked.held})", err=True)
        else:
            verb = "requested" if asked.created else "joined the waiting"
            typer.echo(f"pipeline {asked.pipeline_id}: {verb} run {asked.run_id}")
    if not received.runs:
        typer.echo("no pipeline reads this connection yet: the file waits for one", err=True)


def _quiet(settings: Settings) -> None:
    if settings.log_level.upper() in ("DEBUG", "INFO"):
        configure_logging("WARNING", settings.log_json)


# --- enrolsync pipelines | runs PIPELINE | run PIPELINE -----------------------------------------------------------


@app.command()
def pipelines() -> None:
    """List the pipelines: id, name, connections, schedule, last run and health."""
    settings = _settings()
    _quiet(settings)
    with user_errors():
        table = asyncio.run(cli_runs.pipelines_table(settings))
    _print_table(table)


@app.command()
def runs(
    pipeline: Annotated[str, typer.Argument(help="The pipeline's id or name.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many of the newest runs.")] = 20,
) -> None:
    """List a pipeline's newest runs: status, people read, operations, duration."""
    settings = _settings()
    _quiet(settings)
    with user_errors():
        table = asyncio.run(cli_runs.runs_table(settings, pipeline, limit))
    _print_table(table)


def _print_table(table: Table) -> None:
    console = Console()
    if not console.is_terminal:
        console.width = 1000  # piped into grep or a file: one row per line, never wrapped at 80 columns
    console.print(table)


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="The pipeline's id or name.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: show what would change, change nothing.")
    ] = False,
    scope: Annotated[
        str, typer.Option(help="full: everyone; incremental: what changed since the last clean run.")
    ] = "full",
    wait: Annotated[bool, typer.Option(help="Watch the run to its end (the default) or return once requested.")] = True,
    person: Annotated[
        list[str] | None, typer.Option(help="Only this person (HR id); repeat for several. Sets the scope to people.")
    ] = None,
) -> None:
    """Request a run and show its progress until it ends. Exits 1 when it fails, 2 when the guard blocks it."""
    if scope not in ("full", "incremental"):
        fail("--scope must be full or incremental")
    people = [p.strip() for p in person or [] if p.strip()]
    settings = _settings()
    _quiet(settings)
    console = Console(stderr=True)

    async def go() -> cli_runs.Outcome:
        async with default_queue(settings) as queue:
            return await cli_runs.request_and_watch(
                settings, pipeline, mode="plan" if dry_run else "apply",
                scope="people" if people else scope,  # type: ignore[arg-type]
                queue=queue, console=console, wait=wait, hr_ids=people,
            )  # fmt: skip

    with user_errors():
        try:
            outcome = asyncio.run(go())
        except KeyboardInterrupt:
            typer.echo("stopped watching; the run goes on (see: enrolsync runs PIPELINE)", err=True)
            raise typer.Exit(130) from None
    _end_of_run(outcome, wait)


def _end_of_run(outcome: cli_runs.Outcome, waited: bool) -> None:
    run = outcome.run
    if not waited:
        typer.echo(run.id)
        return
    counts: dict[str, int] = {}
    for by in run.counters.get("ops", {}).values():
        for status, n in by.items():
            counts[status] = counts.get(status, 0) + n
    ops = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n) or "no operations"
    typer.echo(f"run {run.id} {run.status} ({run.mode}, {run.scope}): {run.people_read} people read, {ops}")
    if run.error:
        typer.echo(f"error: {run.error.splitlines()[0][:300]}", err=True)
    if run.status == "blocked":
        reason = (run.guard or {}).get("reason", "the deletion guard stopped it")
        typer.echo(f"blocked: {reason}; approve it with POST /runs/{run.id}/approve", err=True)
        raise typer.Exit(2)
    if run.status != "succeeded":
        raise typer.Exit(1)


async def _check(settings: Settings, connection_id: str) -> tuple[bool, str]:
    # A diagnostic an operator may point at a production database: it reads, and leaves the schema alone.
    async with await open_root(settings, migrate=False) as root:
        rt = root.runtime
        async with rt.sessions() as session:
            connection = await session.get(Connection, connection_id)
        if connection is None:
            raise UserError(f"no connection with id {connection_id!r}")
        result = await check_connection(connection, registry=rt.registry, box=rt.box, clients=rt.clients)
        return result.ok, result.detail


# --- enrolsync token create | list | revoke ---------------------------------------------------------------------
# `create` prints the token alone on standard output (`TOKEN=$(enrolsync token create ...)` works) and what it made
# on standard error; the token is shown this once and stored only as a digest (see api/tokens.py).


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = _settings()

    async def go() -> T:
        async with await open_root(settings) as root, root.runtime.sessions() as session:
            return await work(session)

    with user_errors():
        return asyncio.run(go())
    raise AssertionError("unreachable: user_errors exits on every error")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@token_app.command("create")
def token_create(
    role: Annotated[
        ApiRole,
        typer.Option(help="admin: configure; operator: steer runs; viewer: read; manager: own reports' teams only."),
    ],
    name: Annotated[str, typer.Option(help="What the token is for (a person, a script).")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime; default: until revoked.")] = None,
    hr_id: Annotated[str | None, typer.Option(help="The manager's HR id (manager tokens only).")] = None,
) -> None:
    """Create an API token and print it once (it cannot be shown again)."""
    if not name.strip():
        fail("--name must not be empty")
    if (role is ApiRole.MANAGER) != bool(hr_id and hr_id.strip()):
        fail("a manager token needs --hr-id, and only a manager token takes one")
    lifetime = timedelta(days=expires_in_days) if expires_in_days is not None else None

    async def work(session: AsyncSession) -> tuple[ApiToken, str]:
        issued = await issue_token(session, name=name.strip(), role=role, expires_in=lifetime, hr_id=hr_id)
        detail = {"name": issued.token.name, "role": role.value, "expires_at": _when(issued.token.expires_at)}
        if issued.token.hr_id:
            detail["hr_id"] = issued.token.hr_id
        audit.record(
            session, _CLI, action="api_token.create", resource_type="api_token", resource_id=issued.token.id,
            at=utcnow(), detail=detail,
        )  # fmt: skip
        await session.commit()
        return issued.token, issued.secret

    token, secret = _with_session(work)
    typer.echo(f"created {token.role} token {token.id} ({token.name}), expires {_when(token.expires_at)}", err=True)
    typer.echo("it is shown only now: keep it in a secret store", err=True)
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """List the tokens: id, role, state, dates and name (never the tokens themselves)."""
    tokens = _with_session(list_tokens)
    now = utcnow()
    typer.echo(f"{'ID':32}  {'ROLE':8}  {'STATE':7}  {'EXPIRES':20}  {'LAST USED':20}  NAME")
    for token in tokens:
        typer.echo(
            f"{token.id:32}  {token.role:8}  {token_state(token, now):7}  {_when(token.expires_at):20}  "
            f"{_when(token.last_used_at):20}  {token.name}"
        )


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (`enrolsync token list`).")]) -> None:
    """Revoke a token: requests with it are refused from now on."""

    async def work(session: AsyncSession) -> ApiToken | None:
        token = await revoke_token(session, token_id=token_id)
        if token is not None:
            audit.record(
                session, _CLI, action="api_token.revoke", resource_type="api_token", resource_id=token.id,
                at=utcnow(), detail={"name": token.name},
            )  # fmt: skip
            await session.commit()
        return token

    token = _with_session(work)
    if token is None:
        fail(f"no token with id {token_id!r}")
    typer.echo(f"revoked token {token.id} ({token.name})")


def main() -> None:
    """Entry point of the `enrolsync` script and `python -m enrolsync`."""
    app()
