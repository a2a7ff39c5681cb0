"""Canvas wire models (private to this folder): the fields of Instructure's documented objects the connector reads.

Unknown fields are ignored (Canvas adds fields over time); fields Canvas may send as null are optional.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CanvasUser(Wire):
    """The User object (users.json); `email` comes with `include[]=email` or on `GET /users/:id`."""

    id: int
    name: str = ""
    sortable_name: str = ""
    short_name: str = ""
    sis_user_id: str | None = None
    login_id: str | None = None
    email: str | None = None


class Login(Wire):
    """A login (pseudonym), as `GET /users/:user_id/logins` lists it."""

    id: int
    user_id: int
    unique_id: str
    sis_user_id: str | None = None
    authentication_provider_id: int | None = None
    authentication_provider_type: str | None = None
    workflow_state: str = "active"


class Enrollment(Wire):
    id: int
    user_id: int
    course_id: int
    type: str
    role: str = ""
    role_id: int | None = None
    enrollment_state: str
    associated_user_id: int | None = None
    last_activity_at: str | None = None
    total_activity_time: int | None = None
    updated_at: str | None = None

    @property
    def started(self) -> bool:
        """The learner has been active in the course: Canvas's own activity record, never written by us."""
        return self.last_activity_at is not None or bool(self.total_activity_time)


class CourseProgress(Wire):
    """Module progress (the CourseProgress model): completion requirements met, and when all of them were.

    Canvas answers `{"error": {...}}` in its place for a course without modules and completion requirements."""

    requirement_count: int = 0
    requirement_completed_count: int = 0
    completed_at: str | None = None


class UserProgress(Wire):
    """A row of `GET /courses/:id/bulk_user_progress`: a student and their module progress (or an error object)."""

    id: int
    progress: dict[str, object] | None = None


class Course(Wire):
    id: int
    name: str = ""
    course_code: str = ""
    sis_course_id: str | None = None
    workflow_state: str = "available"


class AuthenticationProvider(Wire):
    id: int
    auth_type: str
    position: int | None = None


class Account(Wire):
    id: int
    name: str = ""
