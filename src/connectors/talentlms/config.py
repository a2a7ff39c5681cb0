"""Configuration of a TalentLMS connection: the portal, its API key and version, and where enrolsync's data goes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, model_validator

from enrolsync.connectors.base import ConnectorConfig

DEFAULT_USER_TYPES = {"learner": "Learner-Type", "instructor": "Instructor-Type", "admin": "Admin-Type"}
ApiVersion = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class TalentLMSConfig(ConnectorConfig):
    """A TalentLMS portal (`https://<domain>.talentlms.com/`) reached through API v2 with an API key.

    The key is made in the portal (Account & Settings > Integrations > API) and acts as the portal's SuperAdmin.
    """

    api_key: SecretStr = Field(description="The portal's API key, sent as X-API-Key.")
    api_version: ApiVersion = Field(
        default="2024-01-01", description="The API version sent as X-API-Version (YYYY-MM-DD), as TalentLMS asks."
    )
    external_id_field: int | None = Field(
        default=None,
        ge=1,
        description="Id of the custom user field (Account & Settings > Users > User fields, a text field) that "
        "holds the HR id. Without it accounts are matched by email or login only.",
    )
    sso_auth: str | None = Field(
        default=None,
        description="Name of the portal's SSO (e.g. 'saml2', 'oidc'), when the portal signs people in through one. "
        "TalentLMS has one SSO per portal and matches people by `sso_subject_field`.",
    )
    sso_subject_field: Literal["login", "email"] = Field(
        default="login", description="The user field the portal's SSO matches the IdP's subject against."
    )
    team_group_prefix: str = Field(
        default="Team of ",
        min_length=1,
        max_length=60,
        description="Manager scope: each manager gets a group named prefix + their user id, holding them and their "
        "direct reports. Groups with this prefix are enrolsync's; do not give other groups such names.",
    )
    user_types: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_USER_TYPES),
        description="Logical system role -> TalentLMS user type name (Account & Settings > User types). A person "
        "has one user type: give each person at most one system role besides `learner`, the type others get back.",
    )

    @model_validator(mode="after")
    def _learner_type(self) -> TalentLMSConfig:
        if "learner" not in self.user_types:
            raise ValueError("user_types needs 'learner': the type a revoked system role falls back to")
        return self
