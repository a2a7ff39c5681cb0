"""Resolving the courses rules name: an id is that course; a key is the one course that has it; never a guess."""

from __future__ import annotations

from enrolsync.connectors.model import Course
from enrolsync.sync.plan.courses import Catalogue, Unresolved, resolve_spec
from enrolsync.sync.rules.spec import PipelineSpec

CATALOGUE = Catalogue.of(
    [
        Course(course_id="7", name="Safety", keys={"shortname": "SAFETY-101", "idnumber": "HS-1"}),
        Course(course_id="8", name="Onboarding", keys={"shortname": "ONBOARD"}),
        Course(course_id="9", name="Old onboarding", keys={"shortname": "ONBOARD-2019", "idnumber": "ONBOARD"}),
        Course(course_id="10", name="Numbered", keys={"shortname": "8"}),
    ]
)


def _spec(*enrol: str) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {"rules": [{"name": "all", "when": {"attr": "department", "op": "exists"}, "enrol": list(enrol)}]}
    )


def test_a_course_is_named_by_id_or_by_any_of_its_keys() -> None:
    spec, unresolved = resolve_spec(_spec("7", "SAFETY-101", "HS-1", "ONBOARD-2019"), CATALOGUE)

    assert spec.rules[0].enrol == ["7", "9"], "three names of one course enrol once"
    assert unresolved == []


def test_an_id_wins_over_another_course_keyed_with_the_same_text() -> None:
    # Pipelines written before keys existed hold ids; they must keep meaning the same course.
    spec, unresolved = resolve_spec(_spec("8"), CATALOGUE)

    assert spec.rules[0].enrol == ["8"]
    assert unresolved == []


def test_unknown_and_ambiguous_names_are_left_out_and_reported_per_rule() -> None:
    spec, unresolved = resolve_spec(_spec("SAFTY-101", "ONBOARD", "SAFETY-101"), CATALOGUE)

    assert spec.rules[0].enrol == ["7"], "the resolvable course still counts"
    assert unresolved == [
        Unresolved("all", "SAFTY-101", "unknown"),
        Unresolved("all", "ONBOARD", "ambiguous: 8, 9"),
    ]
