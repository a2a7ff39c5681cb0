"""Configuration of a HiBob connection: service user, webhook secret, the field paths to read and how to read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from enrolsync.connectors.base import ConnectorConfig

API_URL = "https://api.hibob.com/v1/"
"""Production API root (sandbox: `https://api.sandbox.hibob.com/v1/`); paths such as `people/search` are relative."""

HumanReadable = Literal["APPEND", "REPLACE", "NONE"]
MAX_FIELDS = 400
"""`people/search` takes at most 400 field paths (https://apidocs.hibob.com/reference/post_people-search)."""


class HiBobFieldPaths(BaseModel):
    """Bob field paths (ids from `GET /v1/company/people/fields`) that carry each canonical person field.

    `root.*` fields come back at the top level of an employee, the others nested by their path (`work.department`
    under `work`). Custom fields are paths too (`work.custom.field_1711886937296`). `check()` fails naming any
    path the account does not have. `manager_hr_id` must hold an employee reference (`work.reportsTo`, read for
    its `id`) and `hr_id` the backend id that webhooks and `POST /v1/people/{identifier}` use.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hr_id: str = "root.id"
    first_name: str = "root.firstName"
    last_name: str = "root.surname"
    work_email: str = "root.email"
    username: str | None = Field(default=None, description="Field with the sign-in name or UPN; none by default.")
    lifecycle_status: str = "internal.lifecycleStatus"
    access_status: str | None = "internal.status"
    department: str | None = "work.department"
    job_title: str | None = "work.title"
    location: str | None = "work.site"
    manager_hr_id: str | None = "work.reportsTo"
    hire_date: str | None = "work.startDate"
    termination_date: str | None = "internal.terminationDate"
    employee_number: str | None = "work.employeeIdInCompany"
    custom: Mapping[str, str] = Field(
        default_factory=dict,
        description="Canonical custom key -> Bob field path, e.g. {'cost_centre': 'work.custom.field_17118869'}.",
    )

    def requested(self) -> list[str]:
        """Every field path to ask for, each once, `hr_id` first (HiBob accepts at most 400)."""
        paths = [
            self.hr_id,
            self.first_name,
            self.last_name,
            self.work_email,
            self.username,
            self.lifecycle_status,
            self.access_status,
            self.department,
            self.job_title,
            self.location,
            self.manager_hr_id,
            self.hire_date,
            self.termination_date,
            self.employee_number,
            *self.custom.values(),
        ]
        return list(dict.fromkeys(path for path in paths if path))

    @model_validator(mode="after")
    def _within_bobs_limit(self) -> HiBobFieldPaths:
        if len(self.requested()) > MAX_FIELDS:
            raise ValueError(
                f"HiBob returns at most {MAX_FIELDS} fields per search; {len(self.requested())} configured"
            )
        return self

    def status_paths(self) -> list[str]:
        """The paths a person's status is read from: without them a leaver would read as active."""
        return [path for path in (self.lifecycle_status, self.access_status, self.termination_date) if path]


class HiBobConfig(ConnectorConfig):
    """A HiBob connection through a service user (Settings > Integrations > Service users in Bob)."""

    base_url: HttpUrl = Field(default=HttpUrl(API_URL), description="API root; the sandbox is api.sandbox.hibob.com.")
    service_user_id: str = Field(min_length=1, max_length=200, description="The service user's ID (Basic user name).")
    service_user_token: SecretStr = Field(description="The service user's token (shown once when it is created).")
    webhook_secret: SecretStr | None = Field(
        default=None, description="The secret Bob shows for the webhook (Settings > Integrations > Webhooks)."
    )
    human_readable: HumanReadable = Field(
        default="APPEND",
        description=(
            "APPEND (default): ids and dates from machine values, list labels (department, title, site, lifecycle) "
            "from the humanReadable node. REPLACE: labels only; the manager comes back as a name (no manager id) "
            "and dates in the company's display format. NONE: machine values only; list fields are list item ids."
        ),
    )
    page_size: int = Field(default=500, ge=1, le=10_000, description="Persons per page handed to the engine.")
    fields: HiBobFieldPaths = Field(default_factory=HiBobFieldPaths)
    leave_statuses: tuple[str, ...] = Field(
        default=("Leave", "Parental leave", "Garden leave"),
        description="Lifecycle statuses that mean on leave (compared case-insensitively; add custom leave types).",
    )
    terminated_statuses: tuple[str, ...] = Field(
        default=("Terminated",), description="Lifecycle statuses that mean the person left."
    )
