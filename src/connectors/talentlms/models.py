"""TalentLMS v2 wire models (private to this folder), after the published document's `UserListItem` and user
detail schemas; course, enrollment-progress and group bodies the document leaves unspecified are read
leniently (unknown keys ignored, everything optional but the id)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserItem(_Wire):
    """A user as `GET /api/v2/users` lists them (`UserListItem`)."""

    id: int
    login: str = ""
    name: str = ""
    surname: str = ""
    email: str = ""
    status: str = "active"
    type: str | None = None


class CustomValue(_Wire):
    id: int
    name: str = ""
    value: str | None = None


class UserType(_Wire):
    id: int
    name: str = ""


class UserDetail(UserItem):
    """A user as `GET /api/v2/users/{id}` returns them: with custom field values and the user types."""

    custom_fields: list[CustomValue] = []
    user_type: UserType | None = None
    available_types: list[UserType] = []

    def custom(self, field_id: int) -> str | None:
        return next((c.value for c in self.custom_fields if c.id == field_id), None)


class Named(_Wire):
    """A group, branch or course in a list."""

    id: int
    name: str = ""


class Progress(_Wire):
    """A learner's standing in a course, as a course's `users[]` carry it (after v1's `getcoursebyid`):
    `completion_status` (`not_attempted`, `incomplete`, `completed`), the percentage, and when it was completed
    (`completed_on`, and v1's `completed_on_timestamp` in seconds)."""

    completion_status: str | None = None
    completion_percentage: float = 0
    completed_on: str | None = None
    completed_on_timestamp: int | str | None = None

    @property
    def started(self) -> bool:
        """The learner has done something in the course: enrolsync never removes such an enrollment."""
        return self.completion_percentage > 0 or self.completion_status not in (None, "not_attempted")


class CourseItem(Named):
    """A course as `GET /api/v2/courses` lists it; `code` as the document's `GroupCourseItem` has it."""

    code: str | None = None


class CourseUser(Progress):
    id: int
    role: str = "learner"


class CourseDetail(Named):
    users: list[CourseUser] = []
