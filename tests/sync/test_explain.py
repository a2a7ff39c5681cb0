"""Explanations: why is (or isn't) someone enrolled, leaf by leaf, always in agreement with the desired state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enrolsync.connectors.model import Person
from enrolsync.sync.rules.evaluate import desired_state
from enrolsync.sync.rules.explain import LeafVerdict, RuleVerdict, explain
from tests.support.factories import SPEC, TODAY, person


def _verdict(verdicts: list[RuleVerdict], name: str) -> RuleVerdict:
    return next(v for v in verdicts if v.rule == name)


def test_why_jane_is_not_in_sales_onboarding() -> None:
    jane = person("jane", department="Marketing", hire_date=TODAY - timedelta(days=10))

    verdict = _verdict(explain(jane, SPEC, direct_reports=frozenset(), today=TODAY), "sales onboarding")

    assert not verdict.matched
    assert verdict.enrol == ("SALES-1",)
    assert verdict.leaves == (
        LeafVerdict(
            path="when.all[0]", op="equals", attr="department", expected="Sales", actual="Marketing", matched=False
        ),
        # Every leaf is reported, even after an `all` has already failed.
        LeafVerdict(path="when.all[1]", op="hired_within_days", expected=30, actual=10, matched=True),
    )


def test_every_rule_is_reported_in_order() -> None:
    verdicts = explain(person(), SPEC, direct_reports=frozenset(), today=TODAY)

    assert [v.rule for v in verdicts] == [rule.name for rule in SPEC.rules]


def test_missing_values_and_negated_leaves_are_shown_as_they_are() -> None:
    newcomer = person("n1", department=None, hire_date=None, custom={"contract": "Contractor"})

    verdicts = explain(newcomer, SPEC, direct_reports=frozenset(), today=TODAY)

    onboarding = _verdict(verdicts, "sales onboarding").leaves
    assert (onboarding[0].actual, onboarding[1].actual) == (None, None)
    benefits = _verdict(verdicts, "staff benefits")
    assert not benefits.matched
    assert benefits.leaves == (
        LeafVerdict(
            path="when.not",
            op="equals",
            attr="custom.contract",
            expected="contractor",
            actual="Contractor",
            matched=True,
        ),
    )
    leads = _verdict(verdicts, "leads").leaves[0]
    assert (leads.op, leads.actual, leads.matched) == ("is_manager", 0, False)


PEOPLE = [
    person("a"),
    person("b", department="sales", hire_date=TODAY),
    person("c", department="R&D", custom={"country": "GB"}, job_title="LMS administrator"),
    person("d", custom={"contract": "contractor"}, hire_date=TODAY + timedelta(days=40)),
]


@pytest.mark.parametrize("someone", PEOPLE, ids=lambda p: p.hr_id)
@pytest.mark.parametrize("reports", [frozenset(), frozenset({"x"})])
def test_explanations_agree_with_the_desired_state(someone: Person, reports: frozenset[str]) -> None:
    verdicts = explain(someone, SPEC, direct_reports=reports, today=TODAY)
    state = desired_state(someone, SPEC, direct_reports=reports, today=TODAY)

    assert state is not None
    assert {course for v in verdicts if v.matched for course in v.enrol} == state.enrolments
    assert {group for v in verdicts if v.matched for group in v.groups} == state.groups
    assert {role for v in verdicts if v.matched for role in v.roles} <= {grant.role for grant in state.roles}
