"""LearnUpon wire models, private to this folder. Unknown fields are ignored: LearnUpon adds fields over versions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class LuUser(_Wire):
    id: int
    email: str = ""
    username: str | None = None
    first_name: str = ""
    last_name: str = ""
    user_type: str = "learner"
    enabled: bool = True
    custom: dict[str, Any] = Field(default_factory=dict, alias="CustomData")

    def field(self, label: str | None) -> str | None:
        """A custom user data value as text, None when unset or empty."""
        if label is None:
            return None
        value = self.custom.get(label)
        return None if value in (None, "") else str(value)


class LuEnrollment(_Wire):
    """An enrolment as `GET /enrollments/search` lists it (docs.learnupon.com/api, "Enrollment data attributes").

    `percentage` is the learner's score; `percentage_complete` the share of modules completed. Dates are UTC."""

    id: int
    user_id: int
    course_id: int
    status: str = "not_started"
    percentage_complete: float | None = None
    date_started: str | None = None
    date_completed: str | None = None
    date_lastaccessed: str | None = None
    updated_at: str | None = None
    unenrolled: bool = False
    due_date: str | None = None  # the enrolment's own due date, UTC date/time (read as its date)


class LuCourse(_Wire):
    id: int
    name: str = ""


class LuGroup(_Wire):
    id: int
    title: str = ""


class LuMember(_Wire):
    """A row of `GET /group_memberships?group_id=`: the member's user fields, `id` being the membership's."""

    id: int
    user_id: int
    group_id: int
    group_membership_type_id: int = 1


class Created(_Wire):
    id: int


class BulkJob(_Wire):
    job_id: str
    status: str
    total_items: int | None = None
    processed_items: int | None = None
    failed_items: int | None = None
