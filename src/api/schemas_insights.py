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


class ProgressReadPublic(BaseModel):
    """One read of the pipeline's enrolment progress: a full run's (everything, replacing what was stored) or a
    scheduled one (what changed since `since`, merged into it)."""

    id: str
    kind: Literal["full", "scheduled"]
    run_id: str | None = Field(description="The full run that read it; null for a scheduled read.")
    status: Literal["running", "succeeded", "failed", "superseded"] = Field(
        description="`superseded`: a full read that started later stored its reading first; this one was dropped."
    )
    since: datetime | None = Field(description="What the target was asked for: changes from this time; null: all.")
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    seen: int = Field(description="Enrolments of linked people the target reported.")
    new: int = Field(description="Enrolments seen for the first time.")
    changed: int = Field(description="Enrolments whose state changed.")
    completed: int = Field(description="Enrolments that became completed.")
    error: str | None
