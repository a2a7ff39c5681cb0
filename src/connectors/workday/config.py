"""Configuration of a Workday connection: the tenant, which API to read (RaaS report or SOAP), how to sign in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from enrolsync.connectors.base import ConnectorConfig

Api = Literal["soap", "raas"]
AuthMode = Literal["basic", "oauth_refresh"]


class ReportFields(BaseModel):
    """Which column of the custom report holds each field: the report field's XML alias (Workday derives it from
    the column heading, e.g. `Legal Name - First Name` becomes `Legal_Name_-_First_Name` unless renamed).

    A multi-instance field comes as a `<alias>_group` array of objects: name it `group/field` and the first entry's
    value is used (e.g. the worker's manager). Booleans are Workday's `"1"`/`"0"`, dates `YYYY-MM-DD`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    employee_id: str = "Employee_ID"
    first_name: str = "First_Name"
    last_name: str = "Last_Name"
    email: str = "Email_-_Work"
    username: str | None = "User_Name"
    active: str = "Active_Status"
    terminated: str | None = "Terminated"
    termination_date: str | None = "Termination_Date"
    on_leave: str | None = "On_Leave"
    hire_date: str | None = "Hire_Date"
    department: str | None = "Supervisory_Organization"
    job_title: str | None = "Business_Title"
    location: str | None = "Location"
    manager_id: str | None = "Worker_s_Manager_group/Manager_Employee_ID"


class WorkdayConfig(ConnectorConfig):
    """A Workday tenant, read either through a custom report exposed as a web service (RaaS, `api="raas"`) or
    through the Human_Resources SOAP web service's `Get_Workers` (`api="soap"`).

    `basic`: an Integration System User (ISU) and its password (RaaS sends them as HTTP Basic; SOAP as a
    WS-Security UsernameToken `user@tenant`). `oauth_refresh`: an "API Client for Integrations" with a
    non-expiring refresh token, traded at `/ccx/oauth2/{tenant}/token` for bearer tokens.
    """

    base_url: HttpUrl = Field(
        description="The tenant's web-services host, e.g. https://wd2-impl-services1.workday.com "
        "(Workday shows it in 'Public Web Services' > View WSDL)."
    )
    tenant: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$", description="The tenant name.")
    api: Api = "soap"
    auth: AuthMode = "basic"
    username: str | None = Field(default=None, max_length=200, description="The ISU's user name (without @tenant).")
    password: SecretStr | None = Field(default=None, description="The ISU's password (`basic`).")
    client_id: str | None = Field(default=None, description="The API client's id (`oauth_refresh`).")
    client_secret: SecretStr | None = Field(default=None, description="The API client's secret (`oauth_refresh`).")
    refresh_token: SecretStr | None = Field(
        default=None, description="The non-expiring refresh token generated for the ISU (`oauth_refresh`)."
    )
    soap_version: str = Field(default="v30.0", pattern=r"^v\d{2}\.\d$", description="Human_Resources WWS version.")
    page_size: int = Field(default=100, ge=1, le=999, description="Workers per Get_Workers page (Workday: <= 999).")
    report_owner: str | None = Field(default=None, description="RaaS: the report owner's user name.")
    report_name: str | None = Field(default=None, description="RaaS: the report's web-service name.")
    report_prompts: Mapping[str, str] = Field(
        default_factory=dict, description="RaaS: fixed prompt values sent with every request."
    )
    updated_from_prompt: str | None = Field(
        default=None,
        description="RaaS: the report's prompt taking the start of a change window (e.g. `Updated_From`, filtering "
        "on the transaction log); incremental reads then ask only for workers changed since. Without it, an "
        "incremental read reads the whole report.",
    )
    rows_per_page: int = Field(default=200, ge=1, le=5000, description="RaaS: persons per yielded page.")
    fields: ReportFields = Field(default_factory=ReportFields, description="RaaS: report aliases per field.")
    custom: Mapping[str, str] = Field(
        default_factory=dict, description="RaaS: canonical custom key -> report alias, e.g. {'cost_centre': ...}."
    )

    @model_validator(mode="after")
    def _complete(self) -> WorkdayConfig:
        if self.auth == "basic" and (self.username is None or self.password is None):
            raise ValueError("auth 'basic' needs `username` and `password`")
        if self.auth == "oauth_refresh" and (
            self.client_id is None or self.client_secret is None or self.refresh_token is None
        ):
            raise ValueError("auth 'oauth_refresh' needs `client_id`, `client_secret` and `refresh_token`")
        if self.api == "raas" and (self.report_owner is None or self.report_name is None):
            raise ValueError("api 'raas' needs `report_owner` and `report_name`")
        return self
