"""SuccessFactors OData v2 wire models (private to this folder) and the connector's own cursor.

An answer is `{"d": {"results": [...], "__next": "<url with $skiptoken>", "__count": "N"}}`; an expanded to-many
navigation is `{"results": [...]}` inside its record. `Edm.DateTime` values come as `/Date(ms)/`, `Edm.DateTimeOffset`
as `/Date(ms+0000)/` (`mapping.edm_date`). Readers are tolerant: unknown keys are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Results(_Wire):
    results: list[dict[str, Any]] = Field(default_factory=list)
    next: str | None = Field(default=None, alias="__next")
    count: str | None = Field(default=None, alias="__count")


class Envelope(_Wire):
    d: Results


class ErrorMessage(_Wire):
    lang: str | None = None
    value: str | None = None


class ErrorDetail(_Wire):
    code: str | None = None
    message: ErrorMessage | str | None = None


class ErrorBody(_Wire):
    """SF's OData error: `{"error": {"code": "...", "message": {"lang": "en-US", "value": "..."}}}`."""

    error: ErrorDetail


class Checkpoint(BaseModel):
    """What a SuccessFactors cursor holds.

    Mid full read: `next` (the page after the last one yielded), `started` (server instant the read began),
    `seen` and `total` (records read so far and `__count`, to notice a skipped page). After a read: `since` (the
    server instant it began: changes after it are read next) and `as_of` (the server's day then: job segments that
    take effect after it are read next, though nobody touched them since)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = 1
    next: str | None = None
    started: str | None = None
    seen: int = 0
    total: int | None = None
    since: str | None = None
    as_of: str | None = None
