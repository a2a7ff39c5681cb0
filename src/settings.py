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
        description="Hosts a connection may reach over plain http (local fakes); every other host needs https. "
        "IPv6 addresses may be written with or without brackets.",
    )
    allowed_private_hosts: list[str] = Field(
        default_factory=list,
        description="Host names, addresses or networks (10.0.0.0/8, [::1]) a connection may reach although they "
        "are private, loopback, link-local or metadata addresses; default none: only public addresses.",
    )
    demo_port: int = Field(default=8000, ge=0, le=65535, description="Where `enrolsync demo` serves the API.")
    log_level: str = "INFO"
    log_json: bool = False
    worker_concurrency: int = Field(default=2, ge=1)
    worker_id: str | None = Field(
        default=None, description="This worker's name on the runs it holds; default: host name and process id."
    )
    run_lease_seconds: float = Field(
        default=30.0, ge=1, description="How long a silent worker keeps a run before another takes it over."
    )
    worker_seen_seconds: float = Field(
        default=60.0, gt=0, description="/readyz wants a worker heartbeat (every maintenance pass) this recent."
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Where a worker serves its own /metrics; unset: not served."
    )
    show_test_connectors: bool = Field(
        default=False, description="List the in-memory test connectors in GET /connectors (the demo turns it on)."
    )
    maintenance_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker reaps lapsed runs, fires schedules, dispatches events."
    )

    # --- managers' digest email (issue 16); unset host: no digest is sent ---------------------------------------
    smtp_host: str | None = Field(default=None, description="SMTP server the managers' digests are sent through.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before logging in.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="enrolsync@localhost", description="The digests' From address.")

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

    # --- admin API authentication and run control (issue 3) ----------------------------------------------------
    oidc_issuer: str | None = Field(
        default=None,
        description="OIDC issuer whose access tokens (JWTs) the API accepts, e.g. https://login.example.com/realms/x; "
        "unset: API tokens only.",
    )
    oidc_audience: str | None = Field(
        default=None, description="The `aud` an access token must name (required with oidc_issuer)."
    )
    oidc_role_claim: str = Field(
        default="enrolsync_role",
        description="The claim holding the role (admin, operator or viewer): a string or a list of strings; a dotted "
        "path reaches a nested claim (realm_access.roles).",
    )
    oidc_hr_id_claim: str = Field(
        default="hr_id",
        description="The claim holding a manager's HR id (issue 16): a `manager` sees only their own reports.",
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS; default: `jwks_uri` of its /.well-known/openid-configuration."
    )
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"],
        description="Signature algorithms accepted on access tokens (asymmetric only).",
    )
    oidc_jwks_cache_seconds: int = Field(default=300, ge=0, description="How long fetched signing keys are reused.")
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp and nbf.")
    oidc_client_id: str | None = Field(
        default=None,
        description="The web page's OIDC client id: set, /ui offers single sign-on (authorization code with PKCE; "
        "register <base URL>/ui/sign-in/oidc/callback as its redirect URI). The access tokens it gets must name "
        "oidc_audience.",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="That client's secret, where the issuer treats it as confidential; unset: PKCE only."
    )
    oidc_scopes: str = Field(default="openid profile", description="The scopes the web page asks the issuer for.")
    # --- csv uploads (issue 13) ---------------------------------------------------------------------------------
    upload_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1,
        description="The largest file POST /connections/{id}/uploads accepts (a connection's own max_file_bytes "
        "lowers it); larger ones are refused with 413 and nothing is kept.",
    )
    uploads_kept: int = Field(
        default=3, ge=1, le=100, description="Uploads kept per csv connection (the newest); older ones are deleted."
    )
    plan_max_age_hours: float = Field(
        default=24.0, gt=0, description="A dry run older than this can no longer be applied (POST /runs/{id}/apply)."
    )
