"""Field mapping: where each managed account field comes from, with simple transforms (pure).

A `FieldRule` takes a person attribute (`source`) or a `template` such as `{given_name}.{family_name}`, maps the
result through a `lookup` table, falls back to a `default` when it is blank and can lower-case it. Rules are
validated when the pipeline document is written (unknown attributes, bad templates); values are validated when
they are produced (`render` + `check_value`), and every problem names the field, never the person's data.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from enrolsync.connectors.model import Person
from enrolsync.sync.rules.identifiers import lowered

PERSON_ATTRS = frozenset(
    {
        "hr_id",
        "given_name",
        "family_name",
        "work_email",
        "username",
        "status",
        "department",
        "job_title",
        "location",
        "manager_hr_id",
        "employee_number",
    }
)
"""`Person` fields a rule or mapping may read; custom fields are `custom.<name>`."""

CUSTOM_PREFIX = "custom."

TargetField = Literal[
    "username", "given_name", "family_name", "email", "external_id", "department", "job_title", "location"
]
REQUIRED_FIELDS = frozenset({"username", "email", "external_id"})
"""Account fields without which no account can be built (matching and creation need them)."""

MAX_LENGTH = 255  # the shortest limit among targets' profile fields (Moodle's varchar(255) and below)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def check_attr(attr: str) -> str:
    """`attr` if it names a person attribute; raises ValueError listing the valid names otherwise."""
    if attr in PERSON_ATTRS or (attr.startswith(CUSTOM_PREFIX) and attr[len(CUSTOM_PREFIX) :].strip()):
        return attr
    raise ValueError(f"unknown attribute {attr!r}: use one of {sorted(PERSON_ATTRS)} or 'custom.<name>'")


def _norm(value: str) -> str:
    return value.strip().casefold()


def attr_value(person: Person, attr: str) -> str | None:
    """The trimmed value of `attr` (a `Person` field or `custom.<name>`); None when absent or blank."""
    if attr.startswith(CUSTOM_PREFIX):
        wanted = _norm(attr[len(CUSTOM_PREFIX) :])
        # Custom field names come from HR admins: match them as loosely as values.
        raw = next((value for name, value in person.custom.items() if _norm(name) == wanted), None)
    else:
        raw = getattr(person, attr)
    text = str(raw).strip() if raw is not None else ""
    return text or None


def placeholders(template: str) -> list[str]:
    """The attributes a template names, in order. Raises ValueError for a malformed template."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"malformed template: {error}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.strip():
            raise ValueError("a template placeholder needs an attribute name, e.g. {given_name}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} has a format or conversion; only plain {{attribute}} is allowed")
        names.append(check_attr(name.strip()))
    return names


class FieldRule(BaseModel):
    """One account field: from `source` or `template`, then `lookup`, then `default` when blank, then `lower`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Key | None = Field(default=None, description="A person attribute, e.g. `work_email`, `custom.upn`.")
    template: Key | None = Field(default=None, description="E.g. `{given_name}.{family_name}`; `{{` for a brace.")
    lookup: dict[Key, str] = Field(
        default_factory=dict,
        description="Value -> replacement, keys compared case-insensitively; values not listed pass unchanged.",
    )
    default: str | None = Field(default=None, description="Used when the value is missing or blank.")
    lower: bool = Field(default=False, description="Lower-case the result.")

    @field_validator("source")
    @classmethod
    def _source(cls, source: str | None) -> str | None:
        return None if source is None else check_attr(source)

    @field_validator("template")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is not None and not placeholders(template):
            raise ValueError("a template names at least one attribute; use `default` for a constant")
        return template

    @field_validator("lookup")
    @classmethod
    def _lookup(cls, table: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for key in table:
            first = seen.setdefault(_norm(key), key)
            if first != key:
                raise ValueError(f"lookup keys {first!r} and {key!r} differ only in case or spacing")
        return table

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        if self.source is not None and self.template is not None:
            raise ValueError("give either source or template, not both")
        if self.source is None and self.template is None and not (self.default or "").strip():
            raise ValueError("give a source, a template or a non-blank default")
        return self


@functools.cache
def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    # (literal, attribute) pairs, parsed once per template rather than once per person.
    return tuple(
        (literal, None if name is None else name.strip()) for literal, name, _, _ in string.Formatter().parse(template)
    )


def _render_template(template: str, person: Person) -> tuple[str | None, str | None]:
    out: list[str] = []
    for literal, name in _parsed(template):
        out.append(literal)
        if name is not None:
            value = attr_value(person, name)
            if value is None:
                return None, name
            out.append(value)
    return "".join(out).strip() or None, None


def render(rule: FieldRule, person: Person) -> tuple[str | None, str | None]:
    """The field's value for `person`, and the attribute whose absence left it empty (None when it has one)."""
    missing: str | None = None
    if rule.template is not None:
        value, missing = _render_template(rule.template, person)
    elif rule.source is not None:
        value = attr_value(person, rule.source)
        missing = None if value is not None else rule.source
    else:
        value = None
    if value is not None and rule.lookup:
        table = {_norm(key): replacement for key, replacement in rule.lookup.items()}
        value = table.get(_norm(value), value).strip() or None
    if value is None and rule.default is not None and rule.default.strip():
        value, missing = rule.default.strip(), None
    if value is not None and rule.lower:
        value = lowered(value)  # never into a lookalike's ASCII (sync/rules/identifiers.py)
    return value, missing


def check_value(name: str, value: str) -> str | None:
    """Why `value` cannot be account field `name` (a reason without the value), or None when it can."""
    if len(value) > MAX_LENGTH:
        return f"{name} is longer than {MAX_LENGTH} characters"
    if name == "email" and not _EMAIL.match(value):
        return "email is not a valid address"
    if name == "username" and any(c.isspace() for c in value):
        return "username contains whitespace"
    return None


@functools.cache
def default_rules(username: str, external_id: str) -> Mapping[str, FieldRule]:
    """Each account field's rule when the pipeline gives none: the same-named person attribute. Built once per
    (username, external_id) pair: the rules are frozen, and validating eight models per person cost more than
    rendering them."""
    return MappingProxyType(
        {
            "username": FieldRule(source=username, lower=True),
            "given_name": FieldRule(source="given_name"),
            "family_name": FieldRule(source="family_name"),
            "email": FieldRule(source="work_email", lower=True),
            "external_id": FieldRule(source=external_id),
            "department": FieldRule(source="department"),
            "job_title": FieldRule(source="job_title"),
            "location": FieldRule(source="location"),
        }
    )
