from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from enrolsync.connectors.base import ConnectorConfig


class MemoryConfig(ConnectorConfig):
    """`dataset` names the in-memory system this connection talks to (see `state.DATASETS`)."""

    base_url: HttpUrl = HttpUrl("http://memory.invalid/")
    dataset: str = Field(default="default", min_length=1, max_length=100)
    token: SecretStr = Field(default=SecretStr("memory-token"), description="Must equal the dataset's token.")
    page_size: int = Field(default=50, ge=1, le=10_000)
    webhook_secret: SecretStr | None = Field(
        default=None, description="Signs webhook calls with the generic Enrolsync-Signature scheme."
    )
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
