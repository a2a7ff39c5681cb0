"""BambooHR wire models (private to this folder) and the connector's own cursor.

Readers are tolerant: unknown keys are ignored, so a field BambooHR adds never breaks a read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Value = str | None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DatasetRow(_Wire):
    fields: dict[str, Value] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # The spec types values as strings; numbers seen in the wild are read as their text.
        if isinstance(value, dict):
            return {k: v if v is None or isinstance(v, str) else str(v) for k, v in value.items()}
        return value


class DatasetMeta(_Wire):
    page: int = 1
    page_size: int = Field(default=0, alias="pageSize")
    total_pages: int = Field(default=0, alias="totalPages")
    total_items: int = Field(default=0, alias="totalItems")


class DatasetPage(_Wire):
    """`POST /api/v2/datasets/{datasetName}/data` answer: rows under `data[].fields`, paging in `meta`."""

    data: list[DatasetRow] = Field(default_factory=list)
    meta: DatasetMeta = Field(default_factory=DatasetMeta)


class ChangedEntry(_Wire):
    id: str
    action: str = "Updated"
    last_changed: str | None = Field(default=None, alias="lastChanged")


class ChangedEmployees(_Wire):
    """`GET /api/v1/employees/changed` answer: `{latest, employees: {"<id>": {id, action, lastChanged}}}`."""

    latest: str | None = None
    employees: dict[str, ChangedEntry] = Field(default_factory=dict)

    @field_validator("employees", mode="before")
    @classmethod
    def _empty_list_is_empty_map(cls, value: Any) -> Any:
        # PHP encodes an empty map as `[]`.
        return {} if value == [] else value


class EventData(_Wire):
    company_id: str | None = Field(default=None, alias="companyId")
    employee_id: str = Field(alias="employeeId")
    changed_fields: list[str] = Field(default_factory=list, alias="changedFields")


class EventPayload(_Wire):
    """Event-based webhook: `{"type": "employee.updated", "timestamp": ..., "data": {...}}`."""

    type: str
    timestamp: str | None = None
    data: EventData


class LegacyEntry(_Wire):
    id: str
    action: str = "Updated"
    changed_fields: list[str] = Field(default_factory=list, alias="changedFields")
    fields: dict[str, Any] = Field(default_factory=dict)
    timestamp: str | None = None


class LegacyPayload(_Wire):
    """Field-based (legacy/global) webhook in JSON: `{"employees": [{id, action, changedFields, fields, ...}]}`."""

    employees: list[LegacyEntry]

    @field_validator("employees", mode="before")
    @classmethod
    def _map_to_list(cls, value: Any) -> Any:
        # Mirrors the form encoding `employees[<id>][...]` when a sender keys entries by employee id.
        if isinstance(value, dict):
            return [{"id": key, **entry} if isinstance(entry, dict) else entry for key, entry in value.items()]
        return value


class Checkpoint(BaseModel):
    """What a BambooHR cursor holds. Exactly one of `since` (incremental) or `full_page` (full read) is set.

    `since`: read changes after this instant; `latest`/`after` resume an incremental read mid-way (skip ids up to
    `after` that have not changed again after `latest`). `full_page`: resume a full read at that page;
    `started` is when the full read began, where the following incremental read picks up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    since: str | None = None
    latest: str | None = None
    after: str | None = None
    full_page: int | None = Field(default=None, ge=1)
    page_size: int | None = Field(default=None, ge=1)
    started: str | None = None
