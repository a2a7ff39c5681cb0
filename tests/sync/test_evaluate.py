"""Person -> desired state: joiners, movers, leavers, rehires, people on leave, managers, bad HR data."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from enrolsync.connectors.model import PersonStatus, RoleScope
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.evaluate import InvalidPerson, awaiting_start, desired_state, manager_of
from enrolsync.sync.rules.spec import PipelineSpec, parse_spec
from tests.support.factories import SPEC, TODAY, person, reports_of, spec_with

LEARNER = RoleGrant(role="learner")
EVERYONE = {"SAFETY-101", "BENEFITS"}


def _desired(spec: PipelineSpec = SPEC, reports: frozenset[str] = frozenset(), **fields: Any) -> DesiredState | None:
    return desired_state(person(**fields), spec, direct_reports=reports, today=TODAY)


def _state(**fields: Any) -> DesiredState:
    state = _desired(**fields)
    assert state is not None
    return state


COURSES = [
    pytest.param({}, EVERYONE, set(), id="marketing-veteran"),
    pytest.param(
        {"department": "Sales", "hire_date": TODAY - timedelta(days=3)}, EVERYONE | {"SALES-1"}, {"sales"}, id="joiner"
    ),
    pytest.param(
        {"department": "Sales", "hire_date": TODAY - timedelta(days=30)}, EVERYONE | {"SALES-1"}, {"sales"}, id="day-30"
    ),
    pytest.param({"department": "Sales", "hire_date": TODAY - timedelta(days=31)}, EVERYONE, {"sales"}, id="day-31"),
    pytest.param(
        {"department": "Sales", "hire_date": TODAY + timedelta(days=7)},
        EVERYONE | {"SALES-1"},
        {"sales"},
        id="starts-soon",
    ),
    pytest.param({"department": "Sales", "hire_date": None}, EVERYONE, {"sales"}, id="no-hire-date"),
    pytest.param({"department": "  sALES "}, EVERYONE, {"sales"}, id="case-and-space"),
    pytest.param({"department": "Engineering"}, EVERYONE | {"SEC-200"}, {"eng"}, id="mover-to-engineering"),
    pytest.param({"department": "r&d"}, EVERYONE | {"SEC-200"}, {"eng"}, id="in-list"),
    pytest.param({"custom": {"Country": "gb-ENG"}}, EVERYONE | {"UK-LAW"}, set(), id="custom-prefix"),
    pytest.param({"custom": {"country": "DE"}}, EVERYONE, set(), id="custom-no-prefix"),
    pytest.param({"custom": {"contract": " Contractor"}}, {"SAFETY-101"}, set(), id="not-contractor"),
]


@pytest.mark.parametrize(("fields", "courses", "groups"), COURSES)
def test_rules_give_the_enrolments_and_groups_of_every_matching_rule(
    fields: dict[str, Any], courses: set[str], groups: set[str]
) -> None:
    state = _state(**fields)

    assert state.enrolments == courses
    assert state.groups == groups
    assert state.active


def test_account_fields_follow_the_mapping_lower_cased_and_trimmed() -> None:
    state = _state(
        hr_id="E-7", work_email="  Jane.Doe@Example.COM ", given_name=" Jane ", department=" ", job_title="Analyst"
    )

    assert state.fields.username == "jane.doe@example.com"
    assert state.fields.email == "jane.doe@example.com"
    assert state.fields.external_id == "E-7"
    assert state.fields.given_name == "Jane"
    assert (state.fields.department, state.fields.job_title) == (None, "Analyst")
    assert state.fields.auth == "saml2"
    assert state.sso == SsoSpec(auth="saml2", subject="jane.doe@example.com")


def test_username_and_external_id_can_come_from_other_hr_fields() -> None:
    spec = parse_spec({"mapping": {"username": "employee_number", "external_id": "employee_number"}})
    state = _desired(spec, employee_number=" AB-12 ", username="jdoe")

    assert state is not None
    assert (state.fields.username, state.fields.external_id) == ("ab-12", "AB-12")
    assert state.fields.auth is None and state.sso is None


@pytest.mark.parametrize(
    ("mapping", "fields", "missing"),
    [
        pytest.param({}, {"work_email": None}, "work_email", id="no-email"),
        pytest.param({}, {"work_email": "   "}, "work_email", id="blank-email"),
        pytest.param({"username": "username"}, {"username": None}, "username", id="no-username"),
        pytest.param({"external_id": "employee_number"}, {}, "employee_number", id="no-employee-number"),
        pytest.param({"sso": {"auth": "oidc", "subject": "username"}}, {}, "username", id="no-sso-subject"),
    ],
)
def test_an_active_person_missing_a_mapped_field_is_invalid(
    mapping: dict[str, Any], fields: dict[str, Any], missing: str
) -> None:
    spec = parse_spec({"mapping": mapping})

    with pytest.raises(InvalidPerson) as caught:
        _desired(spec, hr_id="E-9", **fields)

    assert caught.value.hr_id == "E-9" and caught.value.field == missing
    assert "E-9" in str(caught.value) and missing in str(caught.value)


LEAVERS = [
    pytest.param({"status": PersonStatus.TERMINATED}, id="terminated"),
    pytest.param({"termination_date": TODAY}, id="termination-date-reached"),
    pytest.param({"termination_date": TODAY - timedelta(days=90)}, id="termination-date-passed"),
]


@pytest.mark.parametrize("fields", LEAVERS)
def test_a_leaver_is_inactive_and_keeps_what_the_rules_say(fields: dict[str, Any]) -> None:
    state = _state(department="Engineering", **fields)

    assert not state.active
    assert state.enrolments == EVERYONE | {"SEC-200"}
    assert LEARNER in state.roles


def test_a_termination_date_in_the_future_keeps_the_account_active() -> None:
    assert _state(termination_date=TODAY + timedelta(days=1)).active


def test_a_rehire_is_active_again_although_the_old_termination_date_has_passed() -> None:
    state = _state(hire_date=date(2025, 2, 20), termination_date=date(2024, 6, 30), department="Sales")

    assert state.active
    assert "SALES-1" in state.enrolments  # hired within 30 days again: onboarding again


def test_a_same_day_rehire_shown_active_is_no_leaver() -> None:
    """Hired again on the day they left: the two dates are equal, and the status (active) is the latest word."""
    left = TODAY - timedelta(days=3)

    assert _state(hire_date=left, termination_date=left).active
    assert not _state(hire_date=left, termination_date=left, status=PersonStatus.TERMINATED).active
    assert not _state(hire_date=left - timedelta(days=1), termination_date=left).active, "HR not yet flipped"


def test_under_leaver_policy_ignore_a_leaver_has_no_desired_state() -> None:
    assert _desired(spec_with(leaver="ignore"), status=PersonStatus.TERMINATED) is None


def test_a_leaver_with_incomplete_data_has_no_desired_state_rather_than_an_error() -> None:
    assert _desired(status=PersonStatus.TERMINATED, work_email=None) is None


@pytest.mark.parametrize(("policy", "active"), [("keep_active", True), ("suspend", False)])
def test_people_on_leave_follow_the_on_leave_policy(policy: str, active: bool) -> None:
    state = _desired(spec_with(on_leave=policy), status=PersonStatus.LEAVE)

    assert state is not None
    assert state.active is active
    assert state.enrolments == EVERYONE


def test_a_manager_gets_the_manager_role_over_exactly_their_direct_reports() -> None:
    boss = person("boss")
    staff = [
        boss,
        person("r1", manager_hr_id="boss"),
        person("r2", manager_hr_id="boss"),
        person("x1", manager_hr_id="other"),
        person("x2"),
    ]
    reports = reports_of("boss", staff) | {"boss"}  # bad HR data: listed as their own report

    state = desired_state(boss, SPEC, direct_reports=reports, today=TODAY)

    assert state is not None
    assert {g for g in state.roles if g.scope is RoleScope.USER} == {
        RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r1"),
        RoleGrant(role="manager", scope=RoleScope.USER, scope_hr_id="r2"),
    }
    assert "LEAD-1" in state.enrolments


def test_a_person_without_reports_holds_no_manager_role() -> None:
    state = _state()

    assert state.roles == {LEARNER}
    assert "LEAD-1" not in state.enrolments


def test_roles_come_from_rules_and_the_base_and_manager_roles_can_be_switched_off() -> None:
    spec = spec_with(base_role=None, manager_role=None)

    state = _desired(spec, frozenset({"r1"}), job_title="lms administrator")

    assert state is not None
    assert state.roles == {RoleGrant(role="admin")}
    assert "LEAD-1" in state.enrolments  # the is_manager rule still sees the reports


@pytest.mark.parametrize(
    ("starts_in", "lead", "waiting"),
    [
        pytest.param(8, 7, True, id="too-early"),
        pytest.param(7, 7, False, id="on-the-lead-time"),
        pytest.param(0, 7, False, id="first-day"),
        pytest.param(-400, 7, False, id="long-hired"),
        pytest.param(1, 0, True, id="no-lead-time"),
    ],
)
def test_a_future_hire_waits_for_the_lead_time(starts_in: int, lead: int, waiting: bool) -> None:
    policies = spec_with(provision_days_before_start=lead).policies
    hire = person(hire_date=TODAY + timedelta(days=starts_in))

    assert awaiting_start(hire, policies, TODAY) is waiting


@pytest.mark.parametrize(
    ("fields", "manager"),
    [
        pytest.param({"manager_hr_id": "m1"}, "m1", id="active"),
        pytest.param({"manager_hr_id": "m1", "status": PersonStatus.LEAVE}, "m1", id="on-leave"),
        pytest.param({"manager_hr_id": "m1", "hire_date": TODAY + timedelta(days=7)}, "m1", id="joiner-in-lead-time"),
        pytest.param({"manager_hr_id": "m1", "hire_date": TODAY + timedelta(days=8)}, None, id="not-yet-provisioned"),
        pytest.param({"manager_hr_id": "m1", "status": PersonStatus.TERMINATED}, None, id="terminated"),
        pytest.param({"manager_hr_id": "m1", "termination_date": TODAY}, None, id="last-day-reached"),
        pytest.param({"manager_hr_id": "m1", "termination_date": TODAY + timedelta(days=1)}, "m1", id="leaving"),
        pytest.param({"manager_hr_id": "e1"}, None, id="own-manager"),
        pytest.param({}, None, id="no-manager"),
    ],
)
def test_who_counts_as_a_report(fields: dict[str, Any], manager: str | None) -> None:
    # The manager role is granted over exactly these people, and the API's team views list exactly them.
    assert manager_of(person("e1", **fields), SPEC.policies, TODAY) == manager


def test_a_future_hire_within_the_lead_time_is_an_active_joiner() -> None:
    state = _state(department="Sales", hire_date=TODAY + timedelta(days=5))

    assert state.active and "SALES-1" in state.enrolments


def test_a_rehire_after_a_termination_is_active_again() -> None:
    state = _state(termination_date=TODAY - timedelta(days=90), hire_date=TODAY - timedelta(days=1))

    assert state.active


def test_the_sso_subject_can_be_any_hr_attribute_and_keeps_an_opaque_id_as_is() -> None:
    upn = parse_spec({"mapping": {"sso": {"auth": "saml2", "subject": "custom.upn"}}})
    oidc = parse_spec({"mapping": {"sso": {"auth": "oidc", "subject": "custom.oid"}}})
    someone = person(custom={"upn": "Jane.Doe@Corp.Example", "oid": "AbC-123"})

    assert desired_state(someone, upn, direct_reports=frozenset(), today=TODAY).sso == SsoSpec(  # type: ignore[union-attr]
        auth="saml2", subject="jane.doe@corp.example"
    )
    assert desired_state(someone, oidc, direct_reports=frozenset(), today=TODAY).sso == SsoSpec(  # type: ignore[union-attr]
        auth="oidc", subject="AbC-123"
    )
