"""Configuration of a LearnUpon connection: the portal, its API key pair, and where enrolsync's fields go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from enrolsync.connectors.base import ConnectorConfig


class LearnUponConfig(ConnectorConfig):
    """A LearnUpon portal reached at `https://{portal}.learnupon.com/` with an API key pair.

    Keys come from Settings > Integrations > API Keys (per portal or sub-portal); they are not an admin's login.
    Custom user data fields named here must exist in the portal (Settings > Custom user data).
    """

    api_username: str = Field(min_length=1, description="The API key pair's username (HTTP Basic user).")
    api_password: SecretStr = Field(description="The API key pair's password (HTTP Basic password).")
    identifier: Literal["email", "username"] = Field(
        default="email", description="The portal's unique user identifier (LearnUpon's default is email)."
    )
    external_id_field: str | None = Field(
        default="employee_id",
        description="Custom user data field holding the HR id (LearnUpon has no core external-id field).",
    )
    department_field: str | None = Field(default=None, description="Custom user data field for the department.")
    job_title_field: str | None = Field(default=None, description="Custom user data field for the job title.")
    location_field: str | None = Field(default=None, description="Custom user data field for the location.")
    sso_auth: str | None = Field(
        default=None,
        description="The auth name pipelines use for this portal's SAML sign-in (e.g. 'saml2'). LearnUpon has one "
        "SAML configuration per portal matching users by email or username, so the SSO identity of an account is "
        "that identifier; None when the portal has no SSO.",
    )
    sso_field: str | None = Field(
        default=None,
        description="Custom user data field where enrolsync records the auth name of accounts it set up for SSO. "
        "Without it every account counts as signing in through `sso_auth`.",
    )
    team_group_prefix: str = Field(
        default="enrolsync team ",
        min_length=1,
        description="Title prefix of the groups enrolsync makes for manager scope: one per manager, holding the "
        "manager as group manager and their direct reports as learners.",
    )
    promote_team_managers: bool = Field(
        default=True,
        description="Make a learner who manages a team a 'manager' user (LearnUpon lets only managers and admins "
        "manage a group). Never demoted automatically.",
    )
    bulk_enrol_threshold: int = Field(
        default=50,
        ge=2,
        description="From this many enrolments in one batch on, use the asynchronous bulk-enrollment job instead "
        "of one POST each (large initial syncs).",
    )
    bulk_poll_seconds: float = Field(default=5.0, gt=0, description="Pause between polls of a bulk job.")
    bulk_polls: int = Field(default=24, ge=1, description="Polls of a bulk job before its ops come back `retry`.")
