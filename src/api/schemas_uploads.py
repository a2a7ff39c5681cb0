"""Response models of a csv connection's uploads: the stored files (metadata only) and what an upload started."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class UploadPublic(BaseModel):
    """A file uploaded to a csv connection. Never its bytes."""

    id: str
    connection_id: str
    filename: str | None = Field(description="As given in `?filename=` (or a multipart part), for people to read.")
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex digest of the bytes; a run that read this file records the same digest.")
    rows_estimate: int = Field(
        description="Lines after the header: the rows, unless a quoted field holds a line break. The run counts "
        "the rows exactly."
    )
    uploaded_by: str
    created_at: datetime
    completed_at: datetime


class UploadRunPublic(BaseModel):
    """The run an upload requested for one pipeline fed by the connection, or why there is none."""

    pipeline_id: str
    run_id: str | None = Field(description="The full applied run that will read the file; null when `held`.")
    created: bool = Field(description="False when a waiting run of the pipeline was joined instead.")
    held: str | None = Field(default=None, description="Why no run was requested (the pipeline is quarantined).")


class UploadReceipt(UploadPublic):
    """The stored upload, and the runs it started."""

    run_requested: bool = Field(description="True when at least one pipeline has a run that will read the file.")
    runs: list[UploadRunPublic]
    pruned: int = Field(description="Older uploads deleted to keep the newest few.")


class UploadsPublic(BaseModel):
    items: list[UploadPublic] = Field(description="The kept uploads, newest first; the first is the current file.")
