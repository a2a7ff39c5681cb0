"""Configuration of a BambooHR connection: company, API key, webhook key and the dataset field names to read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from enrolsync.connectors.base import ConnectorConfig

GATEWAY_URL = "https://api.bamboohr.com/api/gateway.php/{company_domain}/"
"""API-key (classic) host; `v1/...` and `v2/...` paths are relative to it."""


class BambooHRFieldNames(BaseModel):
    """Names of the `employee` dataset fields that carry each canonical person field.

    Dataset field names are account-specific and differ from the names `GET /employees` uses (e.g.
    `jobInformationDepartment`, not `department`): list them with `GET /api/v1_2/datasets/employee/fields`
    (https://documentation.bamboohr.com/reference/get-fields-from-dataset-v1_2). `check()` fails with the
    vendor's message when a name here does not exist. The defaults follow the names BambooHR documents for the
    employee dataset; `hr_id` and `manager_hr_id` must hold the internal employee id (the id that
    `/employees/changed` and webhooks use), not the employee number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hr_id: str = "eeid"
    first_name: str = "firstName"
    last_name: str = "lastName"
    work_email: str = "email"
    username: str | None = Field(default=None, description="Field with the sign-in name or UPN; none by default.")
    status: str = "status"
    employment_status: str | None = "employmentStatus"
    department: str | None = "jobInformationDepartment"
    job_title: str | None = "jobInformationJobTitle"
    location: str | None = "jobInformationLocation"
    manager_hr_id: str | None = "supervisorEid"
    hire_date: str | None = "hireDate"
    termination_date: str | None = "terminationDate"
    employee_number: str | None = "employeeNumber"
    custom: Mapping[str, str] = Field(
        default_factory=dict,
        description="Canonical custom key -> dataset field name, e.g. {'cost_centre': 'customCostCenter'}.",
    )

    def requested(self) -> list[str]:
        """Every dataset field to ask for, each once, `hr_id` first."""
        names = [
            self.hr_id,
            self.first_name,
            self.last_name,
            self.work_email,
            self.username,
            self.status,
            self.employment_status,
            self.department,
            self.job_title,
            self.location,
            self.manager_hr_id,
            self.hire_date,
            self.termination_date,
            self.employee_number,
            *self.custom.values(),
        ]
        return list(dict.fromkeys(name for name in names if name))


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class BambooHRConfig(ConnectorConfig):
    """A BambooHR connection. `base_url` defaults to the API-key gateway of `company_domain`."""

    base_url: HttpUrl = Field(
        # Never used: the validator below derives the URL from company_domain first. It only makes the field
        # optional, and is kept out of the JSON Schema so no form shows a placeholder company.
        default=HttpUrl(GATEWAY_URL.format(company_domain="example")),
        description="API root holding `v1/` and `v2/`; derived from company_domain when left out.",
        json_schema_extra=_without_default,
    )
    company_domain: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", description="The subdomain: `acme` for acme.bamboohr.com."
    )
    api_key: SecretStr = Field(description="API key; sent as the Basic user name with the password `x`.")
    webhook_private_key: SecretStr | None = Field(
        default=None, description="The webhook's privateKey (shown once when the webhook is created)."
    )
    webhook_tolerance_seconds: int = Field(
        default=300, ge=1, le=86_400, description="Largest accepted skew of X-BambooHR-Timestamp (not documented)."
    )
    page_size: int = Field(default=500, ge=1, le=1000, description="Dataset rows per request (BambooHR max 1000).")
    id_batch_size: int = Field(default=100, ge=1, le=200, description="Changed employees fetched per request.")
    dataset: str = Field(default="employee", pattern=r"^[A-Za-z0-9_-]+$")
    fields: BambooHRFieldNames = Field(default_factory=BambooHRFieldNames)
    leave_statuses: tuple[str, ...] = Field(
        default=("Leave of Absence", "On Leave"),
        description="Employment statuses that mean on leave (compared case-insensitively).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("base_url") and isinstance(data.get("company_domain"), str):
            return {**data, "base_url": GATEWAY_URL.format(company_domain=data["company_domain"])}
        return data
