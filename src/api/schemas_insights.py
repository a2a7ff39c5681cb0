"""Progress read back from the learning platform, as the team and summary views answer it (issue 16)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ProgressWord = Literal["not_started", "in_progress", "completed", "failed"]
SummaryBy = Literal["department", "location", "manager"]


class CourseSummaryPublic(BaseModel):
    course: str
    enrolled: int = Field(description="Enrolments the learning platform reported in this course.")
    not_started: int
    in_progress: int
    completed: int
    failed: int
    overdue: int = Field(description="Not completed and past the due date the rules set.")
    completion_rate: float | None = Field(description="completed / enrolled, or null with no enrolment.")


class CompletionPublic(BaseModel):
    hr_id: str
    name: str
    course: str
    completed_at: datetime | None


class TeamSummaryPublic(BaseModel):
    people: int = Field(description="Members counted (those the answer lists).")
    courses: list[CourseSummaryPublic]
    overdue: int = Field(description="Overdue enrolments across the team.")
    newest_completions: list[CompletionPublic] = Field(description="Most recent first, at most 10.")


class SummaryGroupPublic(BaseModel):
    key: str | None = Field(description="The department, location or manager's hr_id; null for people without one.")
    people: int
    courses: list[CourseSummaryPublic]
    overdue: int
    completion_rate: float | None = Field(description="Completed enrolments / enrolments, over every course.")


class SummaryPublic(BaseModel):
    pipeline_id: str
    by: SummaryBy
    groups: list[SummaryGroupPublic] = Field(description="By key; the groups add up to `total`.")
    total: SummaryGroupPublic
