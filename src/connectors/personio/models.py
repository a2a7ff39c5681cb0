"""Personio wire models (private to this folder) and the connector's own cursor.

Readers are tolerant: unknown keys are ignored, so a field Personio adds never breaks a read. Shapes follow the
v2 reference (https://developer.personio.de/reference/get_v2-persons,
https://developer.personio.de/reference/get_v2-persons-person-id-employments) and the shared v2 components
(`_data`, `_meta.links`, problem+json `errors[]`) in Personio's `common-components-v2.json`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Ref(_Wire):
    id: str


class Link(_Wire):
    href: str


class Meta(_Wire):
    links: dict[str, Link] = Field(default_factory=dict)


class ListPage(_Wire, Generic[T]):
    """A v2 list answer: items under `_data`, the next page's URL under `_meta.links.next.href`."""

    data: list[T] = Field(default_factory=list, alias="_data")
    meta: Meta = Field(default_factory=Meta, alias="_meta")

    @property
    def next_href(self) -> str | None:
        link = self.meta.links.get("next")
        return link.href if link else None


class CustomAttribute(_Wire):
    id: str
    value: Any = None


class PersonWire(_Wire):
    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    preferred_name: str | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    custom_attributes: list[CustomAttribute] = Field(default_factory=list)
    employments: list[Ref] = Field(default_factory=list)


class Position(_Wire):
    title: str | None = None


class Termination(_Wire):
    termination_date: str | None = None


class EmploymentWire(_Wire):
    id: str
    status: str | None = None
    employment_start_date: str | None = None
    termination: Termination | None = None
    position: Position | None = None
    supervisor: Ref | None = None
    updated_at: str | None = None


class ProblemItem(_Wire):
    title: str | None = None
    detail: str | None = None
    details: str | None = None
    type: str | None = None


class Problem(_Wire):
    errors: list[ProblemItem] = Field(default_factory=list)


class WebhookEnvelope(_Wire):
    """`{company_id, event_name, occurred_at, payload, meta}` (https://developer.personio.de/docs/webhooks)."""

    company_id: str | int
    event_name: str
    occurred_at: str
    payload: dict[str, Any]
    meta: dict[str, Any] = Field(default_factory=dict)


class Checkpoint(BaseModel):
    """What a Personio cursor holds: exactly one of `since` (incremental) or `next_href` (resume a full read).

    `started` is the server instant a full read began; the incremental reads that follow pick up from there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    since: str | None = None
    next_href: str | None = None
    started: str | None = None
