"""HiBob wire models (private to this folder) and the connector's own cursor.

Employees themselves stay plain JSON objects: which keys they carry depends on the fields asked for and on the
service user's permissions, so `mapping.py` reads them by field path instead of through a fixed model.
Readers are tolerant: unknown keys are ignored, so a field HiBob adds never breaks a read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Employee = dict[str, object]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class FieldMeta(_Wire):
    """One entry of `GET /v1/company/people/fields` (https://apidocs.hibob.com/reference/get_company-people-fields)."""

    id: str
    name: str = ""
    category_id: str | None = Field(default=None, alias="categoryId")
    category: str | None = None
    category_display_name: str | None = Field(default=None, alias="categoryDisplayName")

    def category_label(self) -> str:
        return self.category_display_name or self.category_id or self.category or self.id.split(".", 1)[0]


class EventEmployee(_Wire):
    id: str


class EventData(_Wire):
    employee_id: str | None = Field(default=None, alias="employeeId")


class EventPayload(_Wire):
    """A webhook call: v2 names the employee in `data.employeeId`, v1 (legacy, still delivered) in `employee.id`
    (https://apidocs.hibob.com/reference/post_webhook_employee-updated)."""

    type: str
    company_id: int | str | None = Field(default=None, alias="companyId")
    triggered_at: str | None = Field(default=None, alias="triggeredAt")
    employee: EventEmployee | None = None
    data: EventData | None = None

    def employee_id(self) -> str | None:
        if self.data is not None and self.data.employee_id:
            return self.data.employee_id
        return self.employee.id if self.employee is not None else None


class Checkpoint(BaseModel):
    """What a HiBob cursor holds: when the full read it ends was answered (server clock). HiBob has no change
    feed, so a cursor never narrows a read; it records when the last full read was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    full_read_at: str
