"""Request and response models of the control plane: the Create / Update / Public split per resource.

Secrets are accepted in `config` and never returned: `ConnectionPublic.config` holds the non-secret options only,
and `secrets_set` names the secret fields that hold a value. Each connector's config schema (with its secret
fields marked `writeOnly`) is added to the OpenAPI document by `openapi.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from enrolsync.connectors.base import Capability
from enrolsync.sync.rules.spec import PipelineSpec
from enrolsync.sync.store.tables import RunMode, RunScope

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]
HrId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

SPEC_DESCRIPTION = (
    "The pipeline document (schema `PipelineSpec`): rules, matching, mapping, policies, schedules. "
    "Validated on write; each problem is reported with its path, e.g. `spec.rules[0].when.value`."
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass `next` back as `?after=` for the following page; null on the last page."""

    items: list[T]
    next: str | None = None


# -- connectors -------------------------------------------------------------------------------------------------


class ConnectorPublic(BaseModel):
    key: str
    kind: Literal["hris", "lms"]
    title: str
    capabilities: list[Capability]
    config_schema: dict[str, Any] = Field(description="JSON Schema of the connection config; secrets are writeOnly.")


class ConnectorLoadError(BaseModel):
    key: str
    error: str


class ConnectorList(BaseModel):
    items: list[ConnectorPublic]
    errors: list[ConnectorLoadError] = Field(description="Installed connectors that failed to load.")


# -- connections ------------------------------------------------------------------------------------------------


class ConnectionCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "BambooHR",
                    "connector": "bamboohr",
                    "config": {
                        "base_url": "https://api.bamboohr.com/api/gateway.php/acme/",
                        "company_domain": "acme",
                        "api_key": "<secret: write-only>",
                    },
                }
            ]
        },
    )

    name: Name
    connector: str = Field(min_length=1, max_length=100, description="A connector key from `GET /connectors`.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The connector's config; secret fields are write-only."
    )


class ConnectionUpdate(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"config": {"api_key": "<new secret: write-only>"}}]}
    )

    name: Name | None = None
    config: dict[str, Any] | None = Field(
        default=None,
        description="Fields to change; the result is validated as a whole. Secret fields left out keep their value.",
    )


class ConnectionPublic(BaseModel):
    id: str
    name: str
    connector: str
    kind: Literal["hris", "lms"] | None = Field(description="Null when the connector is no longer installed.")
    config: dict[str, Any] = Field(description="The config without its secret fields.")
    secrets_set: list[str] = Field(description="Names of the secret fields that hold a value (never the values).")
    created_at: datetime
    updated_at: datetime


class CheckPublic(BaseModel):
    ok: bool
    detail: str
    facts: dict[str, Any] = Field(default_factory=dict)


class CoursePublic(BaseModel):
    """A course of a target connection: a rule's `enrol` may name it by `course_id` or by any of its `keys`."""

    course_id: str
    name: str
    keys: dict[str, str] = Field(description="The keys the LMS knows it by, e.g. {'shortname': 'SAFETY-101'}.")


class CoursesPublic(BaseModel):
    items: list[CoursePublic]


# -- pipelines --------------------------------------------------------------------------------------------------


_RULE_EXAMPLE: dict[str, Any] = {
    "name": "safety for everyone in Operations",
    "when": {"attr": "department", "op": "equals", "value": "Operations"},
    "enrol": ["SAFETY-101"],
}


class PipelineCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Onboarding training",
                    "source_id": "4f1c0e5d2b9a4c7e8f6a1b2c3d4e5f60",
                    "target_id": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b",
                    "spec": {"rules": [_RULE_EXAMPLE], "mapping": {"username": "work_email"}},
                }
            ]
        },
    )

    name: Name
    source_id: Id = Field(description="A connection to an HR system (connector kind `hris`).")
    target_id: Id = Field(description="A connection to a learning platform (connector kind `lms`).")
    # Taken as plain JSON and validated by `rules.parse_spec`, which reports clean paths into the document.
    spec: dict[str, Any] = Field(default_factory=dict, description=SPEC_DESCRIPTION)


class PipelineUpdate(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"spec": {"rules": [_RULE_EXAMPLE]}}]})

    name: Name | None = None
    source_id: Id | None = None
    target_id: Id | None = None
    spec: dict[str, Any] | None = Field(default=None, description=SPEC_DESCRIPTION + " Replaces the whole document.")


class QuarantinePublic(BaseModel):
    """A pipeline's whole-run failures in a row and its quarantine. While `quarantined`, scheduled and
    event-triggered runs are not started and run requests are refused (409); the worker probes both
    connections at `next_probe_at` and lifts the quarantine when they answer, or an operator lifts it."""

    quarantined: bool
    reason: str | None = Field(default=None, description="The error of the run that quarantined the pipeline.")
    quarantined_at: datetime | None = None
    failures: int = Field(description="Runs in a row that failed as a whole (0 after a run that got through).")
    last_error: str | None = None
    hold_until: datetime | None = Field(default=None, description="No scheduled or event run starts before this.")
    probes: int = Field(default=0, description="Probes that failed since the quarantine began.")
    next_probe_at: datetime | None = None
    last_probe_at: datetime | None = None
    last_probe_detail: str | None = None


class PipelinePublic(BaseModel):
    id: str
    name: str
    source_id: str
    target_id: str
    spec: PipelineSpec
    version: int = Field(description="Starts at 1; a change of spec, source or target adds one.")
    created_at: datetime
    updated_at: datetime
    quarantine: QuarantinePublic | None = Field(
        default=None, description="Failure and quarantine state (on `GET /pipelines/{id}`); null when healthy."
    )


# -- runs -------------------------------------------------------------------------------------------------------


class RunCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"mode": "plan", "scope": "full"},
                {"mode": "apply", "scope": "people", "hr_ids": ["1042", "1043"]},
            ]
        },
    )

    mode: RunMode = Field(default="plan", description="`plan` is a dry run: it stops at the plan.")
    scope: RunScope = "full"
    hr_ids: list[HrId] = Field(default_factory=list, max_length=1000, description="The people of a `people` run.")

    @model_validator(mode="after")
    def _people_need_ids(self) -> RunCreate:
        if self.scope == "people" and not self.hr_ids:
            raise ValueError("scope 'people' needs at least one hr_id")
        if self.scope != "people" and self.hr_ids:
            raise ValueError("hr_ids are only accepted with scope 'people'")
        return self


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    status: Literal["ok"]
    migration: str = Field(description="The schema revision the database is at (this code's newest).")
    live_workers: int = Field(description="Workers seen within ENROLSYNC_WORKER_SEEN_SECONDS.")


# -- audit ------------------------------------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Who: `token:<id>` for an API token, `oidc:<subject>` for an OIDC user.")
    actor_name: str = Field(description="The token's name or the OIDC user's preferred username.")
    role: str = Field(description="The role the actor had when they did it.")
    action: str = Field(description="What, e.g. `pipeline.update`, `run.cancel`, `run.approve`, `run.apply`.")
    resource_type: Literal["connection", "pipeline", "run", "api_token"]
    resource_id: str
    detail: dict[str, Any] = Field(description="Ids, versions and changed field names; never values.")
