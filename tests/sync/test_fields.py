"""Field mapping: rules validated on write with the path to each problem, values rendered and checked per person."""

from __future__ import annotations

from typing import Any

import pytest

from enrolsync.connectors.model import Person
from enrolsync.sync.rules.evaluate import InvalidPerson, account_fields
from enrolsync.sync.rules.fields import FieldRule, check_value, render
from enrolsync.sync.rules.spec import SpecInvalid, parse_spec
from tests.support.factories import person

RENDERED = [
    pytest.param({"source": "work_email"}, {}, "e1@example.com", id="source"),
    pytest.param({"template": "{given_name}.{family_name}", "lower": True}, {}, "jane.doe", id="template-lower"),
    pytest.param({"template": "{{{hr_id}}}"}, {}, "{e1}", id="escaped-braces"),
    pytest.param({"source": "custom.Office "}, {"custom": {"office": " Leeds "}}, "Leeds", id="custom-loose-name"),
    pytest.param({"source": "department", "lookup": {"marketing": "MKT"}}, {}, "MKT", id="lookup-any-case"),
    pytest.param({"source": "department", "lookup": {"Sales": "S"}}, {}, "Marketing", id="lookup-miss-passes"),
    pytest.param({"source": "location", "default": "Remote"}, {}, "Remote", id="default-when-missing"),
    pytest.param({"template": "{given_name}-{location}", "default": "x"}, {}, "x", id="default-when-template-short"),
    pytest.param({"default": "Staff"}, {}, "Staff", id="constant"),
    pytest.param({"source": "location"}, {"location": "   "}, None, id="blank-is-missing"),
]


@pytest.mark.parametrize(("rule", "fields", "expected"), RENDERED)
def test_a_rule_renders_the_value_the_admin_expects(
    rule: dict[str, Any], fields: dict[str, Any], expected: str
) -> None:
    assert render(FieldRule.model_validate(rule), person(**fields))[0] == expected


def test_render_names_the_attribute_whose_absence_left_the_value_empty() -> None:
    rule = FieldRule(template="{given_name}.{custom.upn}")

    assert render(rule, person()) == (None, "custom.upn")


MALFORMED = [
    pytest.param({"nickname": {"source": "hr_id"}}, "mapping.fields.nickname", "Input should be", id="unknown-field"),
    pytest.param({"username": {"source": "phone"}}, "mapping.fields.username.source", "unknown attribute", id="src"),
    pytest.param({"username": {"template": "{given_name}.{surname}"}}, "mapping.fields.username.template", "'surname'"),
    pytest.param({"username": {"template": "{hr_id:>8}"}}, "mapping.fields.username.template", "format", id="spec"),
    pytest.param({"username": {"template": "{hr_id"}}, "mapping.fields.username.template", "malformed", id="brace"),
    pytest.param({"username": {"template": "staff"}}, "mapping.fields.username.template", "at least one", id="const"),
    pytest.param({"username": {"source": "hr_id", "template": "{hr_id}"}}, "mapping.fields.username", "not both"),
    pytest.param({"username": {"lower": True}}, "mapping.fields.username", "source, a template", id="nothing"),
    pytest.param(
        {"department": {"source": "department", "lookup": {"Sales": "S", "sales ": "s"}}},
        "mapping.fields.department.lookup",
        "differ only in case",
        id="lookup-clash",
    ),
]


@pytest.mark.parametrize(("fields", "path", "message"), MALFORMED)
def test_a_bad_field_mapping_is_rejected_on_write_with_its_path(
    fields: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_spec({"mapping": {"fields": fields}})

    assert [issue.path for issue in caught.value.issues] == [path]
    assert message in caught.value.issues[0].message


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("email", "jane@example.com", None),
        ("email", "jane.example.com", "email is not a valid address"),
        ("email", "jane doe@example.com", "email is not a valid address"),
        ("username", "jane doe", "username contains whitespace"),
        ("department", "x" * 256, "department is longer than 255 characters"),
        ("department", "R&D / Labs", None),
    ],
)
def test_values_are_checked_before_they_reach_the_target(name: str, value: str, problem: str | None) -> None:
    assert check_value(name, value) == problem


def test_a_value_the_target_cannot_take_makes_the_person_invalid_without_showing_it() -> None:
    mapping = parse_spec({"mapping": {"fields": {"username": {"template": "{given_name} {family_name}"}}}}).mapping

    with pytest.raises(InvalidPerson) as caught:
        account_fields(person(given_name="Jane"), mapping)

    assert str(caught.value) == "person e1: username contains whitespace"
    assert caught.value.field == "username"


def test_fields_override_the_shorthands_and_emails_are_always_lower_case() -> None:
    document = {
        "username": "username",
        "fields": {
            "username": {"source": "employee_number", "lookup": {"E-1": "first-employee"}},
            "email": {"template": "{given_name}.{family_name}@Corp.Example"},
            "external_id": {"source": "employee_number"},
        },
    }
    mapping = parse_spec({"mapping": document}).mapping

    fields = account_fields(Person(hr_id="h1", given_name="Jane", family_name="Doe", employee_number="E-1"), mapping)

    assert (fields.username, fields.email, fields.external_id) == ("first-employee", "jane.doe@corp.example", "E-1")
