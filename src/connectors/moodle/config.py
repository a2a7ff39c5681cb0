"""Configuration of a Moodle connection: the site, its web-service token and how logical roles map to Moodle roles."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, model_validator

from enrolsync.connectors.base import ConnectorConfig

# Moodle role shortnames and profile-field shortnames are PARAM_ALPHANUMEXT.
Shortname = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)]
AuthName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=50)]

MAX_CONCURRENCY = 8  # the most any connection may ask for (the connector's `info.max_concurrency`)
DEFAULT_ROLE_MAP = {"learner": "student", "instructor": "editingteacher", "manager": "manager"}
# A role held in a report's *user* context gives its holder rights over that one person; Moodle's docs call the
# pattern the "Parent role" (https://docs.moodle.org/en/Parent_role). The role must allow the user context level.
DEFAULT_USER_SCOPE_ROLE_MAP = {"manager": "parent"}


class MoodleConfig(ConnectorConfig):
    """A Moodle site reached through its REST web service (`/webservice/rest/server.php`) with a token.

    The token belongs to one Moodle user and one external service (Site administration > Server > Web services >
    Manage tokens); `check()` lists the functions the service still lacks.
    """

    token: SecretStr = Field(description="Web-service token (wstoken).")
    role_map: dict[str, Shortname] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_MAP),
        description="Logical role (learner, instructor, manager, admin) -> Moodle role shortname for system and "
        "course scope. `learner` is the role manual enrolments give.",
    )
    user_scope_role_map: dict[str, Shortname] = Field(
        default_factory=lambda: dict(DEFAULT_USER_SCOPE_ROLE_MAP),
        description="Logical role -> Moodle role shortname used when the role is held over one person (a direct "
        "report's user context). The Moodle role must be assignable in the user context.",
    )
    role_ids: dict[Shortname, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="Moodle role shortname -> role id. Core web services cannot list roles, so ids come from here "
        "(Site administration > Users > Define roles) or are learned from course participant lists; "
        "check() reports conflicts and roles whose id is still unknown.",
    )
    sso_subject_field: Literal["email", "username", "idnumber"] = Field(
        default="email",
        description="The Moodle user field the SSO subject is written to: the field the auth plugin matches on "
        "(auth_saml2 'mdlattr', auth_oidc: username).",
    )
    role_mirror_field: Shortname | None = Field(
        default=None,
        description="Shortname of a text custom profile field where enrolsync records the system- and user-context "
        "role assignments it makes. Core web services cannot read those assignments; without this field they are "
        "applied but not listed, and re-applying them reports 'done' rather than 'already'.",
    )
    completion_of_unopened: bool = Field(
        default=False,
        description="Progress read-back: also ask the course completion of learners who never opened the course, "
        "on every full read (catches a completion a teacher marks for offline training; one extra request per such "
        "enrolment).",
    )
    job_title_field: Shortname | None = Field(
        default=None, description="Shortname of a custom profile field holding the job title (Moodle has no core one)."
    )
    default_auth: AuthName = Field(default="manual", description="Auth plugin for new accounts without one.")
    auth_plugins: tuple[AuthName, ...] = Field(
        default=(),
        description="Auth plugins the pipelines of this connection give accounts (their SSO mapping's `auth`). "
        "check() proves each is installed on the site: Moodle refuses a whole batch naming an absent one.",
    )
    # A created user is at most 13 form fields (names, email, username, idnumber, department, city, auth, password
    # flag, a custom field's type and value): 50 of them stay well under PHP's default max_input_vars of 1000.
    create_batch_size: int = Field(
        default=50,
        ge=1,
        le=100,
        description="Users per core_user_create_users call. The call is one transaction, and PHP's max_input_vars "
        "(default 1000) caps the form fields one request may carry.",
    )

    max_concurrency: int = Field(
        default=4,
        ge=1,
        le=MAX_CONCURRENCY,
        description="Requests in flight at once, at most: a Moodle site answers as many at a time as it has PHP "
        "workers (PHP-FPM's pm.max_children), and requests beyond that queue on the site. Lower it for a small "
        "site shared with its learners' daytime traffic.",
    )

    @model_validator(mode="after")
    def _learner_is_mapped(self) -> MoodleConfig:
        if "learner" not in self.role_map:
            raise ValueError("role_map needs 'learner': it is the role manual enrolments give")
        return self
