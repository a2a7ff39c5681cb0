"""Configuration of a Canvas connection: the instance, an admin's token, the account people are created in, and
how logical roles and SSO auth names map to Canvas roles and authentication providers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, model_validator

from enrolsync.connectors.base import ConnectorConfig

# A base enrolment type, or the numeric id of a custom course role (Account > Permissions > Course roles).
RoleRef = Annotated[str, StringConstraints(pattern=r"^([A-Za-z]+Enrollment|[0-9]+)$")]
BASE_TYPES = frozenset({"StudentEnrollment", "TeacherEnrollment", "TaEnrollment", "DesignerEnrollment"})

DEFAULT_COURSE_ROLES = {
    "learner": "StudentEnrollment",
    "instructor": "TeacherEnrollment",
    "assistant": "TaEnrollment",
    "designer": "DesignerEnrollment",
}
# enrolsync auth name -> Canvas authentication provider (`auth_type`, or a provider id). Ordered: a login on a SAML
# provider is listed as "saml2", the name the pipelines' SSO mapping uses for every target.
DEFAULT_SSO_PROVIDERS = {
    "saml2": "saml",
    "oidc": "openid_connect",
    "cas": "cas",
    "ldap": "ldap",
    "google": "google",
    "microsoft": "microsoft",
}


class CanvasConfig(ConnectorConfig):
    """A Canvas instance (`base_url` is its root, e.g. `https://acme.instructure.com/`) reached with an access
    token of an account admin who may manage users, logins, SIS ids, enrolments and user observers."""

    token: SecretStr = Field(description="Access token (Account > Settings > Approved integrations, or OAuth2).")
    account_id: Annotated[str, StringConstraints(pattern=r"^(self|[0-9]+|sis_account_id:.+)$")] = Field(
        default="self",
        description="The account users are created in: `self` (the root account), an id, or `sis_account_id:<id>`.",
    )
    course_roles: dict[str, RoleRef] = Field(
        default_factory=lambda: dict(DEFAULT_COURSE_ROLES),
        description="Logical role -> the Canvas enrolment type (StudentEnrollment, TeacherEnrollment...) or custom "
        "course role id given in a course. `learner` is what enrolments give.",
    )
    observer_roles: list[str] = Field(
        default_factory=lambda: ["manager"],
        description="Logical roles held over a person (a direct report) that become a Canvas observer link: the "
        "holder observes the report in every course the report takes.",
    )
    unenrol_task: Literal["conclude", "deactivate"] = Field(
        default="conclude",
        description="How an enrolment enrolsync no longer wants ends: `conclude` (read-only, in the learner's past "
        "courses) or `deactivate` (hidden, reactivatable). Neither deletes: grades and submissions stay.",
    )
    conclude_started: bool = Field(
        default=False,
        description="Also end enrolments the learner has been active in. Off by default, as for every target (a "
        "started course is the learner's training record); safe to turn on in Canvas, where concluding keeps grades "
        "and submissions and the learner still sees the course among their past ones.",
    )
    sso_providers: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SSO_PROVIDERS),
        description="enrolsync SSO auth name -> Canvas authentication provider, by `auth_type` (saml, "
        "openid_connect...) or id. A login tied to a provider signs in only through it.",
    )
    per_page: int = Field(default=100, ge=10, le=100, description="Items per page of list calls (Canvas caps 100).")
    max_concurrency: int = Field(
        default=3, ge=1, le=8,
        description="Requests in flight at most; fewer as Canvas reports its remaining rate-limit budget falling.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _learner_is_mapped(self) -> CanvasConfig:
        if "learner" not in self.course_roles:
            raise ValueError("course_roles needs 'learner': it is the role enrolments give")
        return self
