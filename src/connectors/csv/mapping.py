"""Pure conversion of one export record into a person, or into the reasons it cannot be one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError

from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import Person, PersonStatus, Rejected

BUILT_IN_STATUSES: Mapping[str, PersonStatus] = {
    "active": PersonStatus.ACTIVE,
    "leave": PersonStatus.LEAVE,
    "on leave": PersonStatus.LEAVE,
    "terminated": PersonStatus.TERMINATED,
    "inactive": PersonStatus.TERMINATED,
}
DATE_FIELDS = ("hire_date", "termination_date")


@dataclass(frozen=True)
class Layout:
    """Where each mapped field sits in the file's header: person field (or `custom.<key>`) -> column index."""

    width: int
    index: Mapping[str, int]

    @classmethod
    def of(cls, header: Sequence[str], config: CsvConfig) -> Layout:
        """Raises `Invalid` naming every configured column the header lacks."""
        wanted = {**config.columns.mapped(), **{f"custom.{key}": column for key, column in config.custom.items()}}
        positions = {name: i for i, name in enumerate(header)}
        missing = sorted(f"{column!r} ({field})" for field, column in wanted.items() if column not in positions)
        if missing:
            raise Invalid(f"configured columns missing from the file's header: {', '.join(missing)}")
        return cls(width=len(header), index={field: positions[column] for field, column in wanted.items()})


def _status(text: str, config: CsvConfig, ended: date | None, today: date) -> PersonStatus | None:
    if not text:
        return PersonStatus.TERMINATED if ended is not None and ended <= today else PersonStatus.ACTIVE
    table = {**BUILT_IN_STATUSES, **{k.casefold(): v for k, v in config.status_values.items()}}
    return table.get(text.casefold())


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and not any(c.isspace() for c in text))


class _Row:
    """One record's cells by field, collecting what is wrong with them."""

    def __init__(self, line: int, cells: Sequence[str], layout: Layout) -> None:
        self.line, self.cells, self.layout = line, cells, layout
        self.problems: list[Rejected] = []
        self.hr_id = self.cell("hr_id") or None

    def cell(self, field: str) -> str:
        at = self.layout.index.get(field)
        return self.cells[at].strip() if at is not None and at < len(self.cells) else ""

    def reject(self, field: str | None, reason: str) -> None:
        self.problems.append(Rejected(line=self.line, field=field, reason=reason, hr_id=self.hr_id))

    def day(self, field: str, fmt: str) -> date | None:
        text = self.cell(field)
        if not text:
            return None
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time of day
        except ValueError:
            self.reject(field, f"not a date in the format {fmt}")
            return None


def to_person(line: int, cells: Sequence[str], layout: Layout, config: CsvConfig, today: date) -> Person | Rejected:
    """The person one record describes, or the first thing wrong with it (line, field and reason, no value)."""
    row = _Row(line, cells, layout)
    if len(cells) != layout.width:
        return Rejected(line=line, reason=f"has {len(cells)} fields, the header {layout.width}", hr_id=row.hr_id)
    if row.hr_id is None:
        return Rejected(line=line, field="hr_id", reason="empty")
    email = row.cell("work_email")
    if email and not _looks_like_email(email):
        row.reject("work_email", "not an email address")
    dates = {field: row.day(field, config.date_format) for field in DATE_FIELDS}
    status = _status(row.cell("status"), config, dates["termination_date"], today)
    if status is None:
        row.reject("status", "not a known status (add it to `status_values`)")
    manager = row.cell("manager_hr_id") or None
    if manager == row.hr_id:
        row.reject("manager_hr_id", "names the person themself")
    if row.problems:
        return row.problems[0]
    optional = ("username", "department", "job_title", "location", "employee_number")
    try:
        return Person(
            hr_id=row.hr_id,
            given_name=row.cell("given_name"),
            family_name=row.cell("family_name"),
            work_email=email or None,
            status=status or PersonStatus.ACTIVE,
            manager_hr_id=manager,
            custom={key: text for key in config.custom if (text := row.cell(f"custom.{key}"))},
            **dates,
            **{field: row.cell(field) or None for field in optional},
        )
    except ValidationError as error:
        first = error.errors()[0]
        return Rejected(line=line, field=".".join(map(str, first["loc"])) or None, reason=first["msg"], hr_id=row.hr_id)
