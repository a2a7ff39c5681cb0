"""Docebo wire models (private to this folder), read leniently: unknown keys are ignored, everything but the ids
is optional, because Docebo's answers carry many more fields than these and vary by platform settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Manager(_Wire):
    manager_id: str | None = None
    manager_username: str | None = None


class UserItem(_Wire):
    """A user as `GET /manage/v1/user` lists them (`data.items[]`); additional fields come as `field_<id>`."""

    user_id: str
    username: str = ""
    first_name: str | None = ""
    last_name: str | None = ""
    email: str | None = ""
    level: str = "user"
    status: str = "1"
    manager_names: dict[str, Manager] | list[Any] = {}

    def field(self, field_id: int) -> str | None:
        value = (self.model_extra or {}).get(f"field_{field_id}")
        return str(value) if value not in (None, "") else None

    def manager(self, kind: int) -> str | None:
        managers = self.manager_names if isinstance(self.manager_names, dict) else {}
        held = managers.get(str(kind))
        return held.manager_id if held is not None else None


class CourseItem(_Wire):
    id_course: int
    name: str = ""
    code: str | None = None


class EnrollmentItem(_Wire):
    """An enrollment as `GET /learn/v1/enrollments` lists it: the user, the course (`id`) and its status."""

    user_id: int
    id: int
    level: str | None = None
    status: str | None = None

    @property
    def started(self) -> bool:
        """The learner has done something in the course: enrolsync never removes such an enrollment."""
        return self.status not in (None, "subscribed", "waiting", "not_started")


class BranchItem(_Wire):
    id: int
    code: str | None = None
    title: str | None = None


class Row(_Wire):
    """One row of a batch call's answer."""

    row_index: int
    success: bool
    user_id: int | None = None
    message: list[str] | str | None = None

    @property
    def reason(self) -> str:
        text = self.message if isinstance(self.message, str) else "; ".join(self.message or [])
        return text or "refused by Docebo"


class CourseEnrollment(_Wire):
    """An enrolment as the course service lists it (`GET /course/v1/courses/enrollments`, `data.items[]`)."""

    user_id: int
    course_id: int
    enrollment_level: str | None = None
    enrollment_status: str | None = None
    enrollment_date_last_updated: str | None = None
    enrollment_completion_date: str | None = None
