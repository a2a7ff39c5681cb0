"""Person -> desired state: run a pipeline's rules, mapping and policies over one person (pure).

Who counts as a leaver, which account fields a person gets and which rules match are decided here and only here;
`explain.py` reuses the same leaf checks so an explanation can never disagree with what a run did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from enrolsync.connectors.model import AccountFields, Person, PersonStatus, RoleScope
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.fields import REQUIRED_FIELDS, FieldRule, attr_value, check_value, default_rules, render
from enrolsync.sync.rules.identifiers import lowered
from enrolsync.sync.rules.policy import LeaverPolicy, OnLeavePolicy, Policies
from enrolsync.sync.rules.spec import (
    AllOf,
    AnyOf,
    Condition,
    Equals,
    Exists,
    FieldMapping,
    HiredWithinDays,
    In,
    IsManager,
    Leaf,
    NotOf,
    PipelineSpec,
)


class InvalidPerson(ValueError):
    """A person lacks data the pipeline's mapping needs; the runner reports them and skips them.

    The message names the hr_id and the field, never the person's data. `field` is the HR attribute that is
    missing when one is, else the account field whose value was refused.
    """

    def __init__(self, hr_id: str, field: str, reason: str) -> None:
        super().__init__(f"person {hr_id}: {reason}")
        self.hr_id = hr_id
        self.field = field


@dataclass(frozen=True)
class Facts:
    """What conditions are evaluated against: the person, their direct reports (hr_ids) and the run's date."""

    person: Person
    direct_reports: frozenset[str]
    today: date

    @classmethod
    def of(cls, person: Person, direct_reports: Iterable[str], today: date) -> Facts:
        """Facts for `person`; bad HR data listing someone as their own report does not make them a manager."""
        return cls(person=person, direct_reports=frozenset(direct_reports) - {person.hr_id}, today=today)


@dataclass(frozen=True)
class LeafCheck:
    """One leaf's outcome with the person's actual value and the value the leaf expects."""

    matched: bool
    actual: str | int | None
    expected: str | int | list[str] | None


def _norm(value: str) -> str:
    return value.strip().casefold()


def check_leaf(leaf: Leaf, facts: Facts) -> LeafCheck:
    """Evaluate one leaf; comparisons are case-insensitive and whitespace-trimmed."""
    if isinstance(leaf, HiredWithinDays):
        hired = facts.person.hire_date
        days = (facts.today - hired).days if hired is not None else None
        return LeafCheck(days is not None and days <= leaf.days, days, leaf.days)
    if isinstance(leaf, IsManager):
        reports = len(facts.direct_reports)
        return LeafCheck(reports > 0, reports, None)
    actual = attr_value(facts.person, leaf.attr)
    if isinstance(leaf, Exists):
        return LeafCheck(actual is not None, actual, None)
    key = _norm(actual) if actual is not None else None
    if isinstance(leaf, Equals):
        return LeafCheck(key == _norm(leaf.value), actual, leaf.value)
    if isinstance(leaf, In):
        return LeafCheck(key in {_norm(value) for value in leaf.value}, actual, leaf.value)
    return LeafCheck(key is not None and key.startswith(_norm(leaf.value)), actual, leaf.value)


def holds(condition: Condition, facts: Facts) -> bool:
    """Whether `condition` holds for the person in `facts`."""
    if isinstance(condition, AllOf):
        return all(holds(child, facts) for child in condition.all)
    if isinstance(condition, AnyOf):
        return any(holds(child, facts) for child in condition.any)
    if isinstance(condition, NotOf):
        return not holds(condition.not_, facts)
    return check_leaf(condition, facts).matched


class Employment(Protocol):
    """What decides whether someone is a leaver or a future hire: a `Person`, or the three fields read alone
    (`run.org.employment`, cheaper than validating a whole stored record)."""

    @property
    def status(self) -> PersonStatus: ...
    @property
    def hire_date(self) -> date | None: ...
    @property
    def termination_date(self) -> date | None: ...


class Reporting(Employment, Protocol):
    """`Employment` with whom the person reports to: what `manager_of` reads."""

    @property
    def hr_id(self) -> str: ...
    @property
    def manager_hr_id(self) -> str | None: ...


def is_leaver(person: Employment, today: date) -> bool:
    """Terminated, or their termination date is reached while no later employment started.

    Decided by the employment status and the latest event, never by two dates alone: a person the HR system
    shows terminated is a leaver; otherwise a termination date that has come ends the employment unless a hire
    on or after it started a new one. A same-day rehire (hired again on the day they left, so the old
    termination date equals the new hire date) is shown active, and the hire is the latest event.
    """
    if person.status is PersonStatus.TERMINATED:
        return True
    ended = person.termination_date
    if ended is None or ended > today:
        return False
    return person.hire_date is None or person.hire_date < ended


def vanished(person: Person) -> Person:
    """`person` as last read, once the HR system no longer returns them (deleted there): a leaver, until it
    shows them again. Kept out of teams, role scopes and direct reports like any leaver (`manager_of`)."""
    return person.model_copy(update={"status": PersonStatus.TERMINATED})


def awaiting_start(person: Employment, policies: Policies, today: date) -> bool:
    """A future hire not yet within the pipeline's lead time: not provisioned, and not touched if linked.

    From `provision_days_before_start` days before the hire date on, the person is a joiner like any other.
    """
    hired = person.hire_date
    return hired is not None and (hired - today).days > policies.provision_days_before_start


def manager_of(person: Reporting, policies: Policies, today: date) -> str | None:
    """Whom `person` counts as a direct report of, or None: the one definition of "who counts as a report".

    The engine grants the manager role over each report and evaluates `is_manager` on them; the API's people and
    team views list them. A leaver, or a hire not yet provisioned, has no account a manager role could be held
    over, so they report to nobody; nor does anyone report to themselves (bad HR data).
    """
    manager = person.manager_hr_id
    if not manager or manager == person.hr_id or is_leaver(person, today) or awaiting_start(person, policies, today):
        return None
    return manager


def account_fields(person: Person, mapping: FieldMapping) -> AccountFields:
    """The target account's profile for `person` under `mapping`.

    Raises:
        InvalidPerson: a required field (username, email, external id) came out empty, or a value cannot be an
            account field (an email that is no address, a username with spaces); the reason names the field
            and the attribute missing, never the person's data.
    """
    rules: dict[str, FieldRule] = dict(default_rules(mapping.username, mapping.external_id))
    for target_field, override in mapping.fields.items():
        rules[target_field] = override
    values: dict[str, str | None] = {}
    for name, rule in rules.items():
        value, missing = render(rule, person)
        if name in ("username", "email") and value is not None:
            # Emails and usernames are case-insensitive on every target we know: lower-case them so a change
            # of case in the HR system does not look like a new identity (never into a lookalike's ASCII).
            value = lowered(value)
        if value is None and name in REQUIRED_FIELDS:
            cause = f"{missing} is missing" if missing else "the mapping gives nothing"
            raise InvalidPerson(person.hr_id, missing or name, f"{name} is empty: {cause} and the mapping needs it")
        problem = check_value(name, value) if value is not None else None
        if problem is not None:
            raise InvalidPerson(person.hr_id, name, problem)
        values[name] = value
    return AccountFields(
        username=values["username"] or "",
        given_name=values["given_name"] or "",
        family_name=values["family_name"] or "",
        email=values["email"] or "",
        external_id=values["external_id"],
        auth=mapping.sso.auth if mapping.sso is not None else None,
        department=values["department"],
        job_title=values["job_title"],
        location=values["location"],
    )


def _sso(person: Person, mapping: FieldMapping) -> SsoSpec | None:
    if mapping.sso is None:
        return None
    subject = attr_value(person, mapping.sso.subject)
    if subject is None:
        reason = f"{mapping.sso.subject} is missing and the SSO mapping needs it for the subject"
        raise InvalidPerson(person.hr_id, mapping.sso.subject, reason)
    # SAML NameIDs in email or UPN form compare case-insensitively; opaque subjects are kept as they are.
    by_name = mapping.sso.subject in {"work_email", "username"} or "@" in subject
    return SsoSpec(auth=mapping.sso.auth, subject=lowered(subject) if by_name else subject)


def _grants(spec: PipelineSpec, roles: Iterable[str], reports: frozenset[str]) -> frozenset[RoleGrant]:
    policies = spec.policies
    names = set(roles) | ({policies.base_role} if policies.base_role is not None else set())
    grants = {RoleGrant(role=name) for name in names}
    if policies.manager_role is not None:
        grants |= {
            RoleGrant(role=policies.manager_role, scope=RoleScope.USER, scope_hr_id=report) for report in reports
        }
    return frozenset(grants)


def desired_state(
    person: Person, spec: PipelineSpec, *, direct_reports: frozenset[str], today: date
) -> DesiredState | None:
    """What the target should hold for `person`.

    Leavers (and people on leave under `OnLeavePolicy.SUSPEND`) get `active=False` with what the rules say;
    the planner decides what an inactive account keeps. None means the person's account is not to be kept
    active or managed: a leaver under `LeaverPolicy.IGNORE`, or an inactive person whose data is too incomplete
    to build an account (the planner then applies the leaver policy to any linked account). A future hire
    before the lead time (`awaiting_start`) is the caller's to skip: they have no desired state yet.

    Args:
        person: the canonical HR record.
        spec: the pipeline document.
        direct_reports: hr_ids of the person's direct reports (the manager role is granted over each).
        today: the run's date, in the pipeline's time zone.

    Raises:
        InvalidPerson: an active person lacks a field the mapping needs.
    """
    leaver = is_leaver(person, today)
    if leaver and spec.policies.leaver is not LeaverPolicy.DEACTIVATE:
        return None  # not managed (IGNORE), or the account goes (DELETE): the planner applies the policy
    suspended = person.status is PersonStatus.LEAVE and spec.policies.on_leave is OnLeavePolicy.SUSPEND
    active = not (leaver or suspended)
    try:
        fields = account_fields(person, spec.mapping)
        sso = _sso(person, spec.mapping)
    except InvalidPerson:
        if active:
            raise
        return None
    facts = Facts.of(person, direct_reports, today)
    matched = [rule for rule in spec.rules if holds(rule.when, facts)]
    return DesiredState(
        hr_id=person.hr_id,
        fields=fields,
        active=active,
        enrolments=frozenset(course for rule in matched for course in rule.enrol),
        roles=_grants(spec, (role for rule in matched for role in rule.roles), facts.direct_reports),
        groups=frozenset(group for rule in matched for group in rule.groups),
        sso=sso,
    )
