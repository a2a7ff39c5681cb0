"""Configuration of a Docebo connection: the platform, its API client's credentials, and where enrolsync's data
goes (the HR id's additional field, SSO, user levels, the batch import's branch option)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from enrolsync.connectors.base import ConnectorConfig

DEFAULT_LEVELS = {"power_user": "power_user", "admin": "godadmin"}
DEFAULT_COURSE_LEVELS = {"instructor": "instructor", "tutor": "tutor"}


class DoceboConfig(ConnectorConfig):
    """A Docebo platform (`https://<name>.docebosaas.com/`) reached through its REST API with an API client.

    The client is made by a Superadmin (Admin menu > API and SSO > API credentials), with the client credentials
    grant allowed; enrolsync asks `/oauth2/token` for a token and keeps it until shortly before it expires.
    """

    client_id: str = Field(min_length=1, description="The API client's id (client_id).")
    client_secret: SecretStr = Field(description="The API client's secret (client_secret).")
    external_id_field: int | None = Field(
        default=None,
        ge=1,
        description="Id of the additional user field (Admin menu > User management > User additional fields, a "
        "free-text field) that holds the HR id. Without it accounts are matched by email or username only.",
    )
    sso_auth: str | None = Field(
        default=None,
        description="Name of the platform's SSO (e.g. 'saml2', 'oidc') when people sign in through it. Docebo "
        "matches the IdP's subject against `sso_subject_field`.",
    )
    sso_subject_field: Literal["username", "email"] = Field(
        default="username", description="The user field the platform's SSO matches the IdP's subject against."
    )
    levels: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_LEVELS),
        description="Logical system role -> Docebo user level (`power_user` or `godadmin`). A person has one "
        "level: revoking the role gives `user` back.",
    )
    course_levels: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_COURSE_LEVELS),
        description="Logical course role -> Docebo enrollment level (`instructor` or `tutor`). Revoking the role "
        "leaves the person enrolled as a `student`.",
    )
    branch_option: str = Field(
        default="existing",
        description="The batch import's required `branch_option` (which branch new users land in).",
    )
