"""Process settings, read from the environment (and `.env`). Built once by the cli, worker or app factory."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLSYNC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the embedded SQLite files and keys live.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ENROLSYNC_DATABASE_URL"),
        description="sqlite:///path or postgresql://...; default: SQLite under data_dir.",
    )
    system_database_url: str | None = Field(
        default=None,
        description="The durable-job engine's database; default: the app database (PostgreSQL) or a file beside it.",
    )
    secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Fernet keys, newest first; the first encrypts, all decrypt. Default: a key made in data_dir.",
    )
    allowed_http_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Hosts a connection may reach over plain http (local fakes); every other host needs https.",
    )
    demo_port: int = Field(default=8000, ge=0, le=65535, description="Where `enrolsync demo` serves the API.")
    log_level: str = "INFO"
    log_json: bool = False
    worker_concurrency: int = Field(default=2, ge=1)
    run_queue_poll_seconds: float = Field(default=1.0, gt=0)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'enrolsync.sqlite').resolve()}"

    def resolved_system_database_url(self) -> str:
        if self.system_database_url:
            return self.system_database_url
        url = self.resolved_database_url()
        if url.startswith("sqlite"):
            # SQLite allows one writer: keep the job engine's writes out of the app database file.
            return f"sqlite:///{(self.data_dir / 'enrolsync-jobs.sqlite').resolve()}"
        return url
