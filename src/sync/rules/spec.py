"""The pipeline document: rules, matching, field mapping, policies and schedules, as validated data.

A pipeline stores this document as JSON (`Pipeline.spec`); `parse_spec` validates it on write and reports each
problem with the path to it (`rules[0].when.all[1].value`), so an admin can fix a rule without guessing. Rules are
data, never code: a condition is a small tree of `all` / `any` / `not` over leaves that compare one person
attribute. Evaluation lives in `evaluate.py`, explanations in `explain.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from croniter import croniter  # no stubs shipped; DBOS schedules with it too
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from enrolsync.sync.rules.fields import FieldRule, TargetField, check_attr
from enrolsync.sync.rules.policy import LogicalRole, MatchKey, Policies

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)


class _AttrLeaf(_Doc):
    attr: Name = Field(description="A person field (`department`, ...) or `custom.<name>`.")

    _known_attr = field_validator("attr")(check_attr)


class Equals(_AttrLeaf):
    """The attribute equals `value` (case-insensitive, trimmed)."""

    op: Literal["equals"]
    value: Text


class In(_AttrLeaf):
    """The attribute equals one of `value` (case-insensitive, trimmed)."""

    op: Literal["in"]
    value: list[Text] = Field(min_length=1)


class Prefix(_AttrLeaf):
    """The attribute starts with `value` (case-insensitive, trimmed)."""

    op: Literal["prefix"]
    value: Text


class Exists(_AttrLeaf):
    """The attribute has a non-blank value."""

    op: Literal["exists"]


class HiredWithinDays(_Doc):
    """The hire date is at most `days` days ago (people joining soon match too)."""

    op: Literal["hired_within_days"]
    days: int = Field(ge=0, strict=True)


class IsManager(_Doc):
    """The person has at least one direct report."""

    op: Literal["is_manager"]


Leaf = Annotated[Equals | In | Prefix | Exists | HiredWithinDays | IsManager, Field(discriminator="op")]


class AllOf(_Doc):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Doc):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Doc):
    not_: Condition = Field(alias="not")


# Tags of the composite union. They show up in pydantic's error locations, so they are chosen never to clash
# with a field name and are dropped again by `_path`.
_KEY_TAGS = {"all": "cond:all", "any": "cond:any", "not": "cond:not"}
_CLASS_TAGS: dict[type[BaseModel], str] = {AllOf: "cond:all", AnyOf: "cond:any", NotOf: "cond:not"}
_LEAF_TAG = "cond:leaf"


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _CLASS_TAGS.get(type(value), _LEAF_TAG)
    if not isinstance(value, Mapping):
        return None
    keys = [key for key in _KEY_TAGS if key in value]
    if keys:
        return _KEY_TAGS[keys[0]] if len(keys) == 1 else None
    return _LEAF_TAG if "op" in value else None


Condition = Annotated[
    Annotated[AllOf, Tag("cond:all")]
    | Annotated[AnyOf, Tag("cond:any")]
    | Annotated[NotOf, Tag("cond:not")]
    | Annotated[Leaf, Tag(_LEAF_TAG)],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition is {'all': [...]}, {'any': [...]}, {'not': {...}} or a leaf with an 'op'",
    ),
]


class DueDate(_Doc):
    """When the rule's enrolments are due (issue 16): `days_after_hire` or a fixed date `on` for the first time,
    and `every_months` for recurring training (due again that many months after each completion; with neither
    of the others, first due that many months after the enrolment was first seen). Tracked by enrolsync, and pushed
    with the enrolment to targets that hold a due date per enrolment (`Capability.DUE_DATES`: LearnUpon)."""

    days_after_hire: int | None = Field(default=None, ge=0, le=3660, strict=True)
    on: date | None = None
    every_months: int | None = Field(default=None, ge=1, le=120, strict=True)

    @model_validator(mode="after")
    def _one_start(self) -> DueDate:
        if self.days_after_hire is None and self.on is None and self.every_months is None:
            raise ValueError("a due date needs days_after_hire, on or every_months")
        if self.days_after_hire is not None and self.on is not None:
            raise ValueError("give days_after_hire or on, not both")
        return self


class Rule(_Doc):
    """When `when` holds for a person, they get these enrolments, roles and groups."""

    name: Name
    when: Condition
    enrol: list[Name] = Field(
        default_factory=list,
        description="Courses, by id or by a key the target lists them under (Moodle: shortname or ID number), "
        "e.g. ['SAFETY-101'].",
    )
    roles: list[LogicalRole] = Field(default_factory=list, description="System-wide logical roles.")
    groups: list[Name] = Field(default_factory=list, description="Target group (cohort) ids.")
    due: DueDate | None = Field(
        default=None, description="When this rule's enrolments are due (tracked here; pushed to LearnUpon)."
    )


class SsoMapping(_Doc):
    """Accounts sign in through `auth` (e.g. 'saml2', 'oidc'); the IdP subject (SAML NameID, OIDC subject) is the
    person's `subject` attribute, e.g. `work_email` or a UPN kept in `custom.upn`. Emails and usernames are
    lower-cased; other subjects are kept as the HR system has them."""

    auth: Name
    subject: Name = "work_email"

    _known_subject = field_validator("subject")(check_attr)


class FieldMapping(_Doc):
    """Where the target account's fields come from.

    `username` and `external_id` are shorthands for the common cases; `fields` gives any account field its own
    rule (source or template, lookup, default, lower-case) and wins over the shorthands. Emails and usernames
    are always trimmed and lower-cased: every target we know compares them case-insensitively.
    """

    username: Literal["username", "work_email", "employee_number"] = Field(
        default="work_email", description="Source of the target username (lower-cased and trimmed)."
    )
    external_id: Literal["hr_id", "employee_number"] = "hr_id"
    sso: SsoMapping | None = None
    fields: dict[TargetField, FieldRule] = Field(
        default_factory=dict, description="Account field -> its rule, e.g. {'username': {'template': ...}}."
    )


def _check_cron(expression: str | None) -> str | None:
    if expression is None:
        return None
    expression = " ".join(expression.split())
    # Five fields only: croniter also takes a seconds field and @macros, which other schedulers read differently.
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"not a 5-field cron expression (minute hour day month weekday): {expression!r}")
    return expression


class Digest(_Doc):
    """The managers' digest (opt-in): at each `schedule` tick, every manager with reports gets one email about the
    period since the previous tick: their people's new enrolments, completions and overdue training, and a link
    to the learning platform (`lms_url`, else the target connection's address)."""

    schedule: str = Field(default="0 7 * * 1", description="Cron (5 fields, UTC); default Mondays 07:00.")
    lms_url: str | None = Field(default=None, max_length=500, description="Where managers open the LMS.")

    _cron = field_validator("schedule")(_check_cron)


class ProgressSchedule(_Doc):
    """Progress read between runs (issue 16), when the target declares PROGRESS: at each `schedule` tick a read
    asks the target only for what changed since the previous successful read started (less `overlap_minutes`,
    for clocks that disagree) and merges it into the stored progress. Nothing is written to the target. Full
    runs still read everything. Set the pipeline's `progress` to null to read progress on full runs only."""

    schedule: str = Field(default="0 * * * *", description="Cron (5 fields, UTC); default hourly, on the hour.")
    overlap_minutes: int = Field(
        default=10, ge=0, le=1440, description="How far before the previous read's start the next read looks."
    )

    _cron = field_validator("schedule")(_check_cron)


class PipelineSpec(_Doc):
    """The whole pipeline document, as stored with the pipeline and versioned with it."""

    rules: list[Rule] = Field(default_factory=list)
    match_keys: list[MatchKey] = Field(
        default_factory=lambda: [MatchKey.EXTERNAL_ID, MatchKey.EMAIL, MatchKey.USERNAME], min_length=1
    )
    mapping: FieldMapping = Field(default_factory=FieldMapping)
    policies: Policies = Field(default_factory=Policies)
    schedule: str | None = Field(default=None, description="Cron (5 fields) for incremental runs.")
    full_reconcile_schedule: str | None = Field(default=None, description="Cron (5 fields) for full runs.")
    digest: Digest | None = Field(default=None, description="Email each manager a digest of their people's learning.")
    progress: ProgressSchedule | None = Field(
        default_factory=ProgressSchedule,
        description="Read learning progress between runs (hourly unless set); null: on full runs only.",
    )

    _cron = field_validator("schedule", "full_reconcile_schedule")(_check_cron)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            first = seen.setdefault(rule.name.casefold(), index)
            if first != index:
                raise ValueError(f"rules[{index}] repeats the name {rule.name!r} of rules[{first}]")
        return rules

    @field_validator("match_keys")
    @classmethod
    def _unique_keys(cls, keys: list[MatchKey]) -> list[MatchKey]:
        if len(set(keys)) != len(keys):
            raise ValueError("a match key is listed twice")
        return keys

    def to_json(self) -> dict[str, Any]:
        """The document as stored in `Pipeline.spec`."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a pipeline document: where it is and what is wrong."""

    path: str
    message: str


class SpecInvalid(ValueError):
    """A pipeline document failed validation; `issues` lists every problem found."""

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        super().__init__("; ".join(f"{issue.path or '(document)'}: {issue.message}" for issue in issues))
        self.issues = tuple(issues)


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    skip_op_tag = False
    for part in loc:
        if skip_op_tag:
            skip_op_tag = False
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue  # pydantic's marker for a bad mapping key: the key itself is already in the path
        elif part.startswith("cond:"):
            # The leaf union adds its op tag next; neither tag is a place in the document.
            skip_op_tag = part == _LEAF_TAG
        else:
            path += f".{part}" if path else part
    return path


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def parse_spec(data: Mapping[str, Any]) -> PipelineSpec:
    """Validate a pipeline document.

    Args:
        data: the document as JSON-shaped data (e.g. a request body or `Pipeline.spec`).

    Returns:
        The validated spec.

    Raises:
        SpecInvalid: with one `SpecIssue` per problem, each naming the path to it.
    """
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        issues = [SpecIssue(_path(err["loc"]), _message(err["msg"])) for err in exc.errors(include_url=False)]
        raise SpecInvalid(issues) from exc
