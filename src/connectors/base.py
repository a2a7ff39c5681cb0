"""The connector contract: what a source (HRIS) and a target (LMS) implement.

Signatures only; the nouns are in `model.py` and `ops.py`, the error taxonomy in `errors.py`. The shared contract
suite in `connectors/testing/contract.py` checks every connector against its fake; mypy checks every connector
class against `SourceClass` / `TargetClass` (one annotated line in each connector module), so a signature that
drifts fails `mypy --strict`. The contract names no mechanics: the kit depends on it, never the reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, NewType, Protocol, TypeAlias, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, HttpUrl

from enrolsync.connectors.model import (
    Account,
    AccountRecord,
    CheckResult,
    Course,
    Enrolment,
    GroupMembership,
    HrEvent,
    Page,
    Person,
    Progress,
    RawRequest,
    RoleAssignment,
    RoleScope,
    SsoIdentity,
)
from enrolsync.connectors.ops import Op, OpKind, OpResult

Cursor = NewType("Cursor", str)
"""Opaque resume point of a source read; only the connector that made it parses it."""


class ConnectorConfig(BaseModel):
    """Base of every connector's config. Secrets are typed `SecretStr` (write-only in the API, encrypted at rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    base_url: HttpUrl


class Capability(StrEnum):
    PERSONS_FULL = "persons_full"
    PERSONS_INCREMENTAL = "persons_incremental"
    PERSONS_BY_ID = "persons_by_id"
    EVENTS = "events"
    ACCOUNTS = "accounts"
    ENROLMENTS = "enrolments"
    ROLES = "roles"
    GROUPS = "groups"
    SSO = "sso"
    MANAGER_SCOPE = "manager_scope"
    HARD_DELETE = "hard_delete"
    COURSES = "courses"  # lists its courses with the keys admins know them by (`CourseCatalog`)
    PROGRESS = "progress"  # reads enrolment progress back: started, completed (when), failed (`ProgressReader`)
    # `list_role_assignments` is good enough for drift to compare roles on full runs (a target without it has its
    # roles trusted to the links). A target listing only some scopes says which (`RoleScopesListed`); one listing
    # its own record of what it assigned (Moodle's role mirror) says so in its README: a hand change is not seen.
    ROLES_LISTED = "roles_listed"
    # Holds a due date per enrolment that leaves the learner's access alone (`Enrol.due_on`, `SetDueDate`); an
    # access end date (Moodle `timeend`, Canvas `end_at`, Docebo validity) is not one and must not be declared.
    DUE_DATES = "due_dates"


@dataclass(frozen=True)
class Rate:
    """A request budget: `calls` per `per_seconds`."""

    calls: int
    per_seconds: float


@dataclass(frozen=True, kw_only=True)
class ConnectorInfo:
    key: str
    kind: Literal["hris", "lms"]
    title: str
    config_model: type[ConnectorConfig]
    capabilities: frozenset[Capability]
    batch_limits: Mapping[OpKind, int] = field(default_factory=dict)
    default_rate: Rate | None = None
    max_concurrency: int = 4
    # Longer budgets on top of `default_rate`, e.g. TalentLMS's 2,000 calls per hour: the limiter spreads a big
    # sync over the window instead of spending it at once and failing on 429 (`kit.ratelimit.WindowBudget`).
    rate_windows: tuple[Rate, ...] = ()
    # A vendor whose throttle is a leaky bucket of unpublished size (Docebo): after a 429, its Retry-After (the
    # time one call needs to drain) becomes the spacing of the connection's calls, so a sync slows to the rate the
    # vendor drains at instead of being refused again at every resume (`kit.ratelimit.RateLimiter.pace`).
    pace_on_throttle: bool = False


class Sleeper(Protocol):
    async def sleep(self, seconds: float) -> None: ...


class ReadRetryPolicy(Protocol):
    """How a connector retries its reads, as the engine hands it over (`retry=`).

    The contract names only its shape: `kit.retry.ReadRetry` is the policy the engine builds and
    `kit.retry.with_retry` the loop that follows it. Tests inject a clock here so no retry waits for real.
    """

    @property
    def attempts(self) -> int: ...

    @property
    def max_seconds(self) -> float: ...

    @property
    def initial_wait(self) -> float: ...

    @property
    def max_wait(self) -> float: ...

    @property
    def clock(self) -> Sleeper: ...


@runtime_checkable
class Connector(Protocol):
    info: ClassVar[ConnectorInfo]

    async def check(self) -> CheckResult:
        """Reach the system and prove the credentials and permissions work.

        Bad credentials give `CheckResult(ok=False)`, never an exception.
        """
        ...


@runtime_checkable
class SourceConnector(Connector, Protocol):
    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Yield every person page by page; `since=None` reads everyone, a cursor only what changed after it.

        Each page's `checkpoint` resumes right after it. Raises `TransientError` / `PermanentError`.
        """
        ...

    def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """Yield just these people (iff PERSONS_BY_ID): a webhook's run reads the few it names, not the company.

        Ids the source does not know come back in `Page.removed`. Pages carry no checkpoint.
        """
        ...

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """Verify a webhook call's signature over its raw bytes and turn it into HR events (iff EVENTS).

        Raises `AuthError` on a missing or bad signature or a stale timestamp, `Invalid` on a malformed body.
        """
        ...


@runtime_checkable
class TargetConnector(Connector, Protocol):
    def list_accounts(self) -> AsyncIterator[Account]:
        """Every account the target holds, streamed. Raises `AuthError` / `TransientError`."""
        ...

    def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Enrolments with their progress (`started`), iff ENROLMENTS; only in `course_ids` when given.

        The engine names the courses it manages, so a target with thousands of courses reads only those.
        Unknown course ids are skipped, not an error.
        """
        ...

    def list_role_assignments(self) -> AsyncIterator[RoleAssignment]: ...

    def list_group_memberships(self) -> AsyncIterator[GroupMembership]: ...

    def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """Accounts signing in through an SSO auth method, with their subject (iff SSO)."""
        ...

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """Look accounts up by `external_id`, `email` or `username` (for matching and re-reads before retry)."""
        ...

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Apply ops; one result per op, same order.

        Idempotent: an effect already in place gives `already` (with its ref). Per-item failures are results
        (`failed`, or `retry` for transient ones); a failure of the whole call raises a `ConnectorError`.
        Every op has its `account_id` filled, except `CreateUser`.
        """
        ...


@runtime_checkable
class AccountLookup(Protocol):
    """A target that reads accounts by id (optional), so a full run reads the accounts its links name instead of
    every account the target holds: its cost grows with the pipeline's people, not with the rest of the site.

    Without it the engine streams `list_accounts` (and `list_sso_identities`) and keeps the linked accounts.
    """

    def read_accounts(self, account_ids: Collection[str]) -> AsyncIterator[AccountRecord]:
        """The accounts with these ids, streamed in any order, each as `list_accounts` would show it, with its SSO
        identity as `list_sso_identities` would (iff SSO). An id the target does not hold, or holds only as a
        deleted account, is absent: that is how the engine learns an account was deleted by hand.

        Raises `AuthError` / `TransientError` (after the connector's read retries), as `list_accounts` does.
        """
        ...


@runtime_checkable
class PreflightTarget(Protocol):
    """A target that can tell, before anything is written, which ops it would refuse outright (optional).

    The planner asks it about every planned op, so a dry run names what `apply` would fail on (an auth plugin the
    LMS lacks), and a person with a refused op is left out of the plan, invalid, with the reason on their link.
    """

    async def preflight(self, ops: Sequence[Op]) -> Sequence[str | None]:
        """One reason per op (None: no objection), same order. Changes nothing; raises `ConnectorError` as a read."""
        ...


@runtime_checkable
class RoleScopesListed(Protocol):
    """A ROLES_LISTED target whose listing covers only some role scopes (optional; without it, every scope).

    Drift compares roles only in these scopes; a grant in another scope is trusted to the link, as without
    ROLES_LISTED (Moodle lists system and user-context roles only when its role mirror field is set)."""

    def listed_role_scopes(self) -> frozenset[RoleScope]:
        """The scopes `list_role_assignments` reports completely for this connection. Makes no call."""
        ...


@runtime_checkable
class RolesOfAccounts(Protocol):
    """A ROLES_LISTED target that lists the roles of given accounts without reading the whole site (optional).

    Drift needs only the linked accounts' roles; a target whose `list_role_assignments` reads every user and
    every course implements this so a full run's cost does not grow with what the pipeline does not manage."""

    def list_roles_of(
        self, account_ids: Collection[str], *, course_ids: Collection[str]
    ) -> AsyncIterator[RoleAssignment]:
        """What `list_role_assignments` lists of the roles held by or over `account_ids`, with course roles only in
        `course_ids`; other assignments may be listed too (the caller filters). Raises `ConnectorError`."""
        ...


@runtime_checkable
class CourseCatalog(Protocol):
    """A target that can list its courses (iff COURSES), so rules may name a course by the key admins use (a
    Moodle shortname, a Canvas SIS course id) and the engine resolves it to the course's id once per run."""

    def list_courses(self) -> AsyncIterator[Course]:
        """Every course an enrolment can name, streamed, each with its human keys. Raises `ConnectorError`."""
        ...


@runtime_checkable
class ProgressReader(Protocol):
    """A target that reads enrolment progress back (iff PROGRESS): what managers see of their people's learning.

    Read only: reading progress never writes to the target."""

    def list_progress(self, *, course_ids: Collection[str], since: datetime | None = None) -> AsyncIterator[Progress]:
        """The progress of every enrolment in `course_ids`, streamed; unknown course ids are skipped.

        `since` asks only for enrolments whose progress may have changed at or after it (an incremental read):
        a target whose API can filter by time uses it to read less; one that cannot ignores it and lists every
        enrolment. Either answer is correct, so the engine merges an incremental read into what it stored.

        An enrolment the LMS tracks no completion for comes back `NOT_STARTED` or `IN_PROGRESS` (by its last
        activity), never as an error. Raises `AuthError` / `TransientError` when the whole read fails.
        """
        ...


ConnectorT_co = TypeVar("ConnectorT_co", bound=Connector, covariant=True)


class ConnectorClass(Protocol[ConnectorT_co]):
    """A connector class as the engine holds it: its `info`, and a constructor that makes the connector.

    Written as the class object's own protocol (not `type[SourceConnector]`) because mypy never compares a
    class's `__init__` with a protocol's: only a `__call__` here makes the constructor part of what it checks.
    Checking a class against `SourceClass` covers both halves, the constructor and, through the instance it
    returns, every method of `SourceConnector`. mypy words every mismatch as the constructor's: when `__init__`
    looks right, a method drifted (the instance no longer satisfies the protocol), and assigning an instance to
    a `SourceConnector` variable names the method.

    `config` is `Any` on purpose: each connector takes its own `ConnectorConfig` subclass, and a parameter typed
    `ConnectorConfig` here would (parameters being contravariant) demand that every connector accept any config.
    A protocol generic over the config type would not help the engine either: it learns the config type only at
    run time (`info.config_model` validates the stored config), so it would write `Any` there in every place.
    """

    @property
    def info(self) -> ConnectorInfo: ...

    def __call__(self, config: Any, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> ConnectorT_co:
        """`config` is an instance of `info.config_model`; `http` is built by `kit.client.build_client`;
        `retry` governs read retries (its clock is injected by tests so they never wait)."""
        ...


SourceClass: TypeAlias = ConnectorClass[SourceConnector]
TargetClass: TypeAlias = ConnectorClass[TargetConnector]
