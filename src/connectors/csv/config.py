"""Configuration of a CSV connection: where the export comes from (an SFTP server, or uploads to the API), how to log
in and trust the server, how to read the file, and which column holds which field of the person."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Annotated, Literal

import asyncssh
from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    UrlConstraints,
    field_validator,
    model_validator,
)

from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.model import PersonStatus

SftpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["sftp"], default_port=22, host_required=True)]

PERSON_COLUMNS = (
    "hr_id",
    "given_name",
    "family_name",
    "work_email",
    "username",
    "status",
    "department",
    "job_title",
    "location",
    "manager_hr_id",
    "hire_date",
    "termination_date",
    "employee_number",
)


class CsvColumns(BaseModel):
    """Which header names the export uses for each field of the person; a field left out is not read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hr_id: str = Field(min_length=1, description="Column of the stable employee id (never reused).")
    given_name: str | None = None
    family_name: str | None = None
    work_email: str | None = None
    username: str | None = Field(default=None, description="Column of the username or UPN used to sign in.")
    status: str | None = Field(default=None, description="Column of the employment status (see `status_values`).")
    department: str | None = None
    job_title: str | None = None
    location: str | None = None
    manager_hr_id: str | None = Field(default=None, description="Column holding the manager's employee id.")
    hire_date: str | None = None
    termination_date: str | None = None
    employee_number: str | None = None

    def mapped(self) -> dict[str, str]:
        """Person field -> header name, for the fields this export has."""
        return {name: column for name in PERSON_COLUMNS if (column := getattr(self, name)) is not None}


class CsvConfig(ConnectorConfig):
    """An HR export read as a delimited file with a header row, fetched from an SFTP server or uploaded to the API
    (`POST /connections/{id}/uploads`). Each file is a full snapshot."""

    base_url: HttpUrl = Field(
        default=HttpUrl("https://csv.invalid/"),
        description="Not used: the file comes over SFTP (see `url`) or from the uploads enrolsync stores.",
    )
    origin: Literal["sftp", "upload"] = Field(
        default="sftp",
        description="`sftp`: fetch the file from `url` on every run. `upload`: read the newest file uploaded to "
        "`POST /connections/{id}/uploads` (each upload starts a full run); no SFTP fields then.",
    )
    url: SftpUrl | None = Field(
        default=None,
        description="sftp://host[:port]/path/to/export.csv; a pattern in the file name (`people-*.csv`) reads the "
        "newest matching file. Required for `origin: sftp`.",
    )
    username: str | None = Field(
        default=None, min_length=1, max_length=200, description="SFTP login name. Required for `origin: sftp`."
    )
    password: SecretStr | None = Field(default=None, description="SFTP password (when no private key is given).")
    private_key: SecretStr | None = Field(
        default=None, description="Private key for key authentication, in OpenSSH or PEM text form."
    )
    private_key_passphrase: SecretStr | None = Field(default=None, description="Passphrase of an encrypted key.")
    known_hosts: str | None = Field(
        default=None, description="known_hosts lines trusted for the server (as `ssh-keyscan` prints them)."
    )
    host_key: str | None = Field(
        default=None, description="The server's public host key, pinned (`ssh-ed25519 AAAA...`)."
    )
    verify_host_key: bool = Field(
        default=True,
        description="Check the server's host key against `known_hosts` / `host_key`. Turning it off lets anyone "
        "on the path impersonate the server and read the credentials: only for a lab.",
    )
    columns: CsvColumns = Field(description="Header name of each person field the file has.")
    custom: Mapping[str, str] = Field(
        default_factory=dict, description="Custom field key -> header name, e.g. {'cost_centre': 'Cost center'}."
    )
    status_values: Mapping[str, PersonStatus] = Field(
        default_factory=dict,
        description="Export status text -> status (compared case-insensitively), on top of the built-in "
        "active / leave / on leave / terminated / inactive. An empty status is active, or terminated once the "
        "termination date has passed.",
    )
    encoding: str | None = Field(
        default=None, description="Text encoding (e.g. `utf-8`, `cp1252`); detected when not set. A BOM is allowed."
    )
    delimiter: str | None = Field(
        default=None, min_length=1, max_length=1, description="Field delimiter; detected (, ; tab |) when not set."
    )
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of the date columns.")
    max_row_drop: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Refuse a file with this fraction fewer rows than the last accepted one (0.2: a fifth fewer).",
    )
    accept_revision: int = Field(
        default=0,
        ge=0,
        description="Raise by one to accept a file refused for a changed header or a sharp drop in rows; a change "
        "to `columns` or `custom` accepts a new header too.",
    )
    max_file_bytes: int = Field(default=512 * 1024 * 1024, ge=1, description="Larger files are refused.")
    page_size: int = Field(default=500, ge=1, le=10_000, description="Persons per page handed to the engine.")
    connect_timeout_seconds: float = Field(default=30, gt=0, le=600)

    @field_validator("host_key")
    @classmethod
    def _a_public_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                asyncssh.import_public_key(value)
            except (asyncssh.KeyImportError, ValueError):
                raise ValueError("not a public key in OpenSSH form (`ssh-ed25519 AAAA...`)") from None
        return value

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts_lines(cls, value: str | None) -> str | None:
        # asyncssh skips a line whose key does not parse, silently: a typo would then trust nothing, and every
        # connection would fail on the host key. Each line's key is imported here so the typo is named on save.
        lines = [line.split() for line in (value or "").splitlines() if line.strip() and not line.startswith("#")]
        for number, parts in enumerate(lines, start=1):
            fields = parts[1:] if parts[0].startswith("@") else parts  # @cert-authority / @revoked markers
            try:
                asyncssh.import_public_key(" ".join(fields[1:3]))
            except (asyncssh.KeyImportError, ValueError):
                raise ValueError(f"line {number} is not a known_hosts line (`host ssh-ed25519 AAAA...`)") from None
        if value is not None and not lines:
            raise ValueError("no known_hosts line")
        return value

    @model_validator(mode="after")
    def _sound(self) -> CsvConfig:
        if self.origin == "sftp":
            self._sound_sftp()
        else:
            sftp_fields = ("url", "username", "password", "private_key", "private_key_passphrase", "known_hosts")
            given = [name for name in (*sftp_fields, "host_key") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"origin `upload` takes no SFTP settings ({', '.join(given)}): files are uploaded")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"unknown encoding {self.encoding!r}") from None
        return self

    def _sound_sftp(self) -> None:
        if self.url is None or self.username is None:
            raise ValueError("origin `sftp` needs url and username")
        if self.url.username or self.url.password:
            raise ValueError("url must not carry credentials; use username and the secret fields")
        if not (self.url.path or "/").strip("/"):
            raise ValueError("url must name the file (sftp://host/path/export.csv)")
        if self.password is None and self.private_key is None:
            raise ValueError("give a password or a private_key")
        if self.verify_host_key and not (self.known_hosts or self.host_key):
            raise ValueError("give known_hosts or host_key (the server's host key is checked by default)")
