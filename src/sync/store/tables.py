"""SQLModel tables. Every change here ships an Alembic migration (`migrations/versions/`).

Run on SQLite and PostgreSQL alike: JSON columns use SQLAlchemy's portable JSON type, timestamps are stored as
UTC and read back tz-aware on both (SQLite drops the offset, so `UtcDateTime` restores it).

Over 300 lines on purpose: the whole schema in one place is what a migration is written and reviewed against.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column, Field, SQLModel

# Named constraints let later migrations drop or alter them, which SQLite's batch mode needs (it recreates tables).
# Set before any table is declared so every constraint gets its name. `ix` keeps SQLAlchemy's default index names.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UtcDateTime(TypeDecorator[datetime]):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use tz-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = False, default: bool = True) -> Any:
    return Field(
        default_factory=utcnow if default else None,
        sa_column=Column(UtcDateTime(), nullable=nullable),
    )


def _json(*, nullable: bool = False) -> Any:
    return Field(default_factory=dict, sa_column=Column(sa.JSON(), nullable=nullable))


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    BLOCKED = "blocked"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# What a run does and over whom; the API takes and answers exactly these values, and the run table refuses others.
RunMode = Literal["plan", "apply"]  # plan: a dry run that stops at the plan
RunScope = Literal["full", "incremental", "people"]  # people: only the run's `hr_ids`

ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
# A finished run never changes again: no worker takes it, nothing steers it, `finished_at` is stamped. A blocked run
# is neither active nor finished: it waits for an admin's approval, which queues it again.
FINISHED_RUN_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_FAILED, RunStatus.FAILED, RunStatus.CANCELLED}
)
# Predicates of the partial unique indexes, as literal SQL: an upsert's conflict target must repeat them verbatim
# (bound parameters would keep PostgreSQL and SQLite from matching it to the index).
QUEUED_RUN_PREDICATE = "status = 'queued'"
RUNNING_RUN_PREDICATE = "status = 'running'"


class RunOpStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    ALREADY = "already"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"


class Connection(SQLModel, table=True):
    """A configured connector instance. `secrets` holds the encrypted secret fields of the config only."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    connector: str = Field(max_length=100, index=True)
    config: dict[str, Any] = _json()
    secrets: str = Field(default="", sa_column=Column(sa.Text(), nullable=False))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Pipeline(SQLModel, table=True):
    """One source feeding one target. `spec` is the validated pipeline document (rules, matching, policies)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    source_id: str = Field(foreign_key="connection.id", max_length=32, index=True)
    target_id: str = Field(foreign_key="connection.id", max_length=32, index=True)
    version: int = 1
    spec: dict[str, Any] = _json()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class PipelineVersion(SQLModel, table=True):
    """Every version a pipeline had, so a run can say exactly which rules it used."""

    pipeline_id: str = Field(foreign_key="pipeline.id", primary_key=True, max_length=32)
    version: int = Field(primary_key=True)
    spec: dict[str, Any] = _json()
    created_at: datetime = _ts()


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=column)


class Run(SQLModel, table=True):
    """One execution of a pipeline.

    Control state has columns of its own: `planned` (the plan is stored whole; planning is not repeated),
    `guard` (the deletion guard's verdict on that plan, a `GuardVerdict` as JSON), the approval that lets a blocked
    run apply, and who cancelled it or asked for it to apply a dry run. `counters` holds counts only, each once:
    `people` (`invalid`, `conflicts`), `awaiting_start`, `kept_started`, `drift` (by op kind) and `courses` (how the
    rules' course names resolved) from planning, and `ops` (by op kind, then outcome) once the run has finished.
    """

    __table_args__ = (
        # Per pipeline, at most one run executes and at most one waits; a request while one waits joins it.
        # Enforced by the database (partial unique indexes on both dialects), whichever process asks.
        sa.Index(
            "uq_run_queued_per_pipeline",
            "pipeline_id",
            unique=True,
            sqlite_where=sa.text(QUEUED_RUN_PREDICATE),
            postgresql_where=sa.text(QUEUED_RUN_PREDICATE),
        ),
        sa.Index(
            "uq_run_running_per_pipeline",
            "pipeline_id",
            unique=True,
            sqlite_where=sa.text(RUNNING_RUN_PREDICATE),
            postgresql_where=sa.text(RUNNING_RUN_PREDICATE),
        ),
        _one_of("mode", get_args(RunMode)),
        _one_of("scope", get_args(RunScope)),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_id: str = Field(foreign_key="pipeline.id", max_length=32, index=True)
    pipeline_version: int
    trigger: str = Field(max_length=20)
    mode: RunMode = Field(sa_column=Column(sa.String(length=10), nullable=False))
    scope: RunScope = Field(sa_column=Column(sa.String(length=20), nullable=False))
    hr_ids: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON(), nullable=False))
    status: str = Field(default=RunStatus.QUEUED, max_length=20, index=True)
    counters: dict[str, Any] = _json()
    planned: bool = False  # set in the same commit as the plan's last op and `guard`
    # `GuardVerdict.model_dump(mode="json")` (sync/plan): the store does not import the pure wings, so readers
    # validate it. SQL NULL (not JSON null) until planned.
    guard: dict[str, Any] | None = Field(default=None, sa_column=Column(sa.JSON(none_as_null=True), nullable=True))
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = _ts(nullable=True, default=False)
    cancelled_by: str | None = Field(default=None, max_length=200)
    applied_by: str | None = Field(default=None, max_length=200)  # who asked to apply the dry run `plan_run_id`
    # People planning skipped because matching was ambiguous (the first `planning.LISTED`; the count is exact in
    # `counters["people"]["conflicts"]`); each one's reason is on their link.
    conflicted: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON(), nullable=False))
    # Records the source could not read (`connectors.model.Rejected` as JSON: line, field, reason, hr_id), the
    # first `reading.LISTED`; the count is exact in `counters["people"]["rejected"]`.
    rejected: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(sa.JSON(), nullable=False))
    people_read: int = 0
    ops_planned: int = 0
    ops_applied: int = 0
    error: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    plan_run_id: str | None = Field(default=None, max_length=32)
    cursor: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    # Which worker executes the run, until when (renewed while it works), and which attempt: a worker that dies
    # lets its lease lapse and another takes the run over as the next generation (workflow `<id>.<generation>`).
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _ts(nullable=True, default=False)
    generation: int = 0
    created_at: datetime = _ts()
    started_at: datetime | None = _ts(nullable=True, default=False)
    finished_at: datetime | None = _ts(nullable=True, default=False)


class RunOp(SQLModel, table=True):
    """One planned operation of a run and its outcome. `op` is the exact `Op` JSON handed to the target."""

    __table_args__ = (sa.UniqueConstraint("run_id", "seq", name="uq_runop_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", max_length=32, index=True)
    seq: int
    hr_id: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=30)
    op: dict[str, Any] = _json()
    status: str = Field(default=RunOpStatus.PLANNED, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    ref: str | None = Field(default=None, max_length=200)
    updated_at: datetime = _ts()


class Link(SQLModel, table=True):
    """The durable pairing of a person with their target account and the state last applied to it."""

    pipeline_id: str = Field(foreign_key="pipeline.id", primary_key=True, max_length=32)
    hr_id: str = Field(primary_key=True, max_length=200)
    account_id: str | None = Field(default=None, max_length=200, index=True)
    person: dict[str, Any] = _json()
    applied: dict[str, Any] = _json()
    last_error: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    last_error_at: datetime | None = _ts(nullable=True, default=False)
    # When the HR system stopped returning the person (deleted there, or missing from a full read); cleared when
    # it shows them again. Until then they are a leaver on every kind of run (`run.org.known_person`).
    gone_at: datetime | None = _ts(nullable=True, default=False)
    # Planning's shortcut (`plan/fingerprint.py`): a digest of what the desired state was last computed from, and
    # of the desired state it came to. Unchanged inputs and an applied state that digests to `desired_fp` mean
    # nothing is to be done for the person. Hints only: None means "evaluate afresh".
    source_fp: str | None = Field(default=None, max_length=64)
    desired_fp: str | None = Field(default=None, max_length=64)
    # The digest of `person` (written with it, `ledger.upsert_persons`): reading an unchanged person compares it
    # instead of the record. None means "compare the record".
    person_fp: str | None = Field(default=None, max_length=64)
    # The digest of `applied` (`fingerprint.state_digest`), written with it by the executor (`ledger.save_links`),
    # so telling a settled person costs comparing it with `desired_fp` instead of digesting the state. None means
    # "digest `applied`": every ORM write of `applied` clears it (`_applied_written`), so it is never stale.
    applied_fp: str | None = Field(default=None, max_length=64)
    # The run day matching last looked for this never-linked leaver and found no account (`run/planning._match`):
    # full runs look again on a later day or once the person changes (cleared when their record changes).
    sought_on: date | None = None
    updated_at: datetime = _ts()


@event.listens_for(Link.applied, "set")
def _applied_written(link: Link, value: Any, old: Any, initiator: Any) -> None:
    # Whatever writes `applied` through the ORM (planning's matching and drift repair, an API, a test) leaves
    # its digest unknown rather than stale; the executor, writing with Core, stores the digest with the state.
    link.applied_fp = None


class Checkpoint(SQLModel, table=True):
    """The source cursor a pipeline's next incremental run starts from; saved only after apply succeeded."""

    pipeline_id: str = Field(foreign_key="pipeline.id", primary_key=True, max_length=32)
    cursor: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    updated_at: datetime = _ts()


class Event(SQLModel, table=True):
    """One HR event of a verified webhook call, stored before the call is acknowledged. `body` holds the event's
    own part as read (id, kind, person, time; see `jobs/events.py`); events stored before issue 20 hold their
    call's whole body."""

    __table_args__ = (sa.UniqueConstraint("connection_id", "event_id", name="uq_event_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    connection_id: str = Field(foreign_key="connection.id", max_length=32, index=True)
    event_id: str = Field(max_length=200)
    headers: dict[str, Any] = _json()
    body: str = Field(sa_column=Column(sa.Text(), nullable=False))
    hr_ids: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON(), nullable=False))
    run_id: str | None = Field(default=None, max_length=32)
    # The runs (one per pipeline fed by the connection) that re-read the people the event names; set once the
    # event was handed to them, so `dispatched_at IS NULL` marks an event not yet handed over.
    run_ids: list[str] = Field(default_factory=list, sa_column=Column(sa.JSON(), nullable=False))
    dispatched_at: datetime | None = _ts(nullable=True, default=False)
    received_at: datetime = _ts()


# --- control plane: API tokens and the audit trail (issue 3) ------------------------------------------------------


class ApiRole(StrEnum):
    """What a caller may do: admins configure, operators drive runs, viewers read. Each includes the ones after it.
    A manager (issue 16) reads only the team views of their own reports, direct and indirect, by their HR id."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    MANAGER = "manager"


class ApiToken(SQLModel, table=True):
    """A bearer token for the admin API. Only the SHA-256 of the token is kept; the token is shown once."""

    __tablename__ = "api_token"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    hr_id: str | None = Field(default=None, max_length=200)  # whose reports a manager token may see (issue 16)
    revoked: bool = False
    created_at: datetime = _ts()
    expires_at: datetime | None = _ts(nullable=True, default=False)
    last_used_at: datetime | None = _ts(nullable=True, default=False)


class AuditEntry(SQLModel, table=True):
    """Who did what to which resource: configuration changes and run control, one row per accepted request."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    actor: str = Field(max_length=200, index=True)
    actor_name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    action: str = Field(max_length=50)
    resource_type: str = Field(max_length=30)
    resource_id: str = Field(max_length=200, index=True)
    detail: dict[str, Any] = _json()


# --- schedules ---------------------------------------------------------------------------------------------


class ScheduleState(SQLModel, table=True):
    """The last schedule tick a pipeline acted on, per kind (incremental, full): missed ticks fire once."""

    __tablename__ = "schedule_state"

    pipeline_id: str = Field(foreign_key="pipeline.id", primary_key=True, max_length=32)
    kind: str = Field(primary_key=True, max_length=20)
    last_tick_at: datetime = _ts()


# --- quarantine (issue 7) ------------------------------------------------------------------------------------


class PipelineHealth(SQLModel, table=True):
    """A pipeline's whole-run failures in a row, the back-off they impose and the quarantine they end in.

    No row, or `failures == 0`, is a healthy pipeline. While `quarantined_at` is set, scheduled and event-triggered
    runs are not started and admin requests are refused; the worker probes the connections at `next_probe_at`.
    """

    __tablename__ = "pipeline_health"

    pipeline_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("pipeline.id", ondelete="CASCADE"), primary_key=True)
    )
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    hold_until: datetime | None = _ts(nullable=True, default=False)  # no automatic run before this
    quarantined_at: datetime | None = _ts(nullable=True, default=False)
    reason: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    probes: int = 0  # failed probes since the quarantine began
    next_probe_at: datetime | None = _ts(nullable=True, default=False)
    last_probe_at: datetime | None = _ts(nullable=True, default=False)
    last_probe_detail: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    updated_at: datetime = _ts()


# --- workers (issue 17) ----------------------------------------------------------------------------------------


class WorkerBeat(SQLModel, table=True):
    """A worker's heartbeat, written by its maintenance loop every pass: `/readyz` and `/metrics` count the workers
    seen lately, so runs that would stay `queued` for want of a worker show up as such."""

    __tablename__ = "worker_beat"

    worker_id: str = Field(primary_key=True, max_length=200)
    started_at: datetime = _ts()
    seen_at: datetime = _ts()


# --- progress read back from the target (issue 16) ------------------------------------------------------------


class DigestSent(SQLModel, table=True):
    """One manager's digest for one period of a pipeline: inserted before sending, so several workers send it at
    most once (the primary key refuses the second)."""

    __tablename__ = "digest_sent"

    pipeline_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("pipeline.id", ondelete="CASCADE"), primary_key=True)
    )
    manager_hr_id: str = Field(primary_key=True, max_length=200)
    period_end: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    sent_at: datetime = _ts()


class EnrolmentProgress(SQLModel, table=True):
    """One managed enrolment's progress as the target last reported it (`ProgressReader.list_progress`), read on
    full runs. `changed_at` is when `state` last changed here (a completion's news date when the LMS gives none);
    `due_on` is the due date the pipeline's rules set, tracked here (and also pushed to targets declaring DUE_DATES)."""

    __tablename__ = "enrolment_progress"

    pipeline_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("pipeline.id", ondelete="CASCADE"), primary_key=True)
    )
    hr_id: str = Field(primary_key=True, max_length=200)
    course_id: str = Field(primary_key=True, max_length=200)
    account_id: str = Field(max_length=200)
    state: str = Field(max_length=20)
    percent: float | None = None
    completed_at: datetime | None = _ts(nullable=True, default=False)
    last_activity_at: datetime | None = _ts(nullable=True, default=False)
    due_on: date | None = Field(default=None, sa_column=Column(sa.Date(), nullable=True))
    due_recurs: bool = False  # due again after each completion: an expired completion is overdue
    first_seen_at: datetime = _ts()
    changed_at: datetime = _ts()
    read_at: datetime = _ts()


class ProgressRead(SQLModel, table=True):
    """One progress read of a pipeline (issue 16): a full run's whole read or a scheduled incremental one, with
    what it found. The next scheduled read asks the target for what changed since the newest successful read's
    `started_at`, so this row (not a worker's memory) is where an incremental read resumes from.

    `status`: running, succeeded, failed, or superseded (a full read that started later finished first, so this
    older reading was dropped rather than merged over it)."""

    __tablename__ = "progress_read"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_id: str = Field(
        sa_column=Column(
            sa.String(length=32), sa.ForeignKey("pipeline.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=20)  # full (a full run's read, a whole replacement) | scheduled (merged)
    run_id: str | None = Field(default=None, max_length=32)  # the full run that read it
    status: str = Field(default="running", max_length=20)
    since: datetime | None = _ts(nullable=True, default=False)  # what the target was asked for; None: everything
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True, default=False)
    seen: int = 0
    new: int = 0
    changed: int = 0
    completed: int = 0
    error: str | None = Field(default=None, sa_column=Column(sa.Text(), nullable=True))
    worker: str = Field(default="", max_length=200)


# --- SCIM inbound: an identity provider's pushed state (issue 13) --------------------------------------------------


class ScimResource(SQLModel, table=True):
    """One SCIM resource an identity provider pushed to a `scim-inbound` connection: the source of its full runs.

    `body` is the resource as served (the library's model dumped in the response context); `user_name` is kept
    case-folded and `external_id` as sent so the filters identity providers send before every create
    (`userName eq`, `externalId eq`) are index lookups. `version` grows on every write and makes the ETag and the
    event id of each change.
    """

    __tablename__ = "scim_resource"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "resource_type", "user_name", name="uq_scim_resource_user_name"),
        sa.Index("ix_scim_resource_external_id", "connection_id", "resource_type", "external_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    connection_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("connection.id", ondelete="CASCADE"), nullable=False)
    )
    resource_type: str = Field(max_length=20)
    user_name: str | None = Field(default=None, max_length=300)
    external_id: str | None = Field(default=None, max_length=300)
    body: dict[str, Any] = _json()
    version: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ScimToken(SQLModel, table=True):
    """The bearer token an identity provider presents to a `scim-inbound` connection, stored as its SHA-256 digest
    (shown once when issued; issuing again replaces it)."""

    __tablename__ = "scim_token"

    connection_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()


# --- csv uploads: files sent to `POST /connections/{id}/uploads` (issue 13) ----------------------------------------


class Upload(SQLModel, table=True):
    """A file uploaded to a `csv` connection, stored in the database so that any worker can read it.

    Written in chunks (`UploadChunk`) while the request streams in; `complete` turns true in the commit that records
    its size and digest, and only complete uploads are read or listed. `completed_at` orders them: the newest
    complete upload is the connection's current file.
    """

    __tablename__ = "upload"
    __table_args__ = (sa.Index("ix_upload_connection_completed", "connection_id", "complete", "completed_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    connection_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("connection.id", ondelete="CASCADE"), nullable=False)
    )
    filename: str | None = Field(default=None, max_length=255)
    content_type: str = Field(max_length=100)
    size: int = Field(default=0, sa_column=Column(sa.BigInteger(), nullable=False))
    sha256: str | None = Field(default=None, max_length=64)
    lines: int = 0  # line breaks in the decoded text: an estimate of the rows (a quoted field may hold one)
    complete: bool = False
    uploaded_by: str = Field(max_length=200)
    created_at: datetime = _ts()
    completed_at: datetime | None = _ts(nullable=True, default=False)


class UploadChunk(SQLModel, table=True):
    """One piece of an upload's bytes, in order of `seq` (from 0); a few hundred KiB each."""

    __tablename__ = "upload_chunk"

    upload_id: str = Field(
        sa_column=Column(sa.String(length=32), sa.ForeignKey("upload.id", ondelete="CASCADE"), primary_key=True)
    )
    seq: int = Field(sa_column=Column(sa.Integer(), primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(sa.LargeBinary(), nullable=False))
