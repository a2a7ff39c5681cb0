"""The pipeline document: what validates, what is rejected and where the error is reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from enrolsync.sync.rules.policy import DriftPolicy, LeaverPolicy, LogicalRole, MatchKey, UnenrolPolicy
from enrolsync.sync.rules.spec import Equals, In, NotOf, PipelineSpec, SpecInvalid, parse_spec
from tests.support.factories import DOCUMENT


def _rule(when: Any, **actions: Any) -> dict[str, Any]:
    return {"rules": [{"name": "r", "when": when, **actions}]}


def test_a_full_document_validates_and_round_trips_through_json() -> None:
    document = {
        **DOCUMENT,
        "match_keys": ["email", "external_id"],
        "policies": {"leaver": "ignore", "deactivation_guard": {"percent": 5, "min_count": 3}, "base_role": None},
        "schedule": "*/15 6-20 * * 1-5",
        "full_reconcile_schedule": "0 2 * * 0",
    }
    spec = parse_spec(document)

    stored = json.loads(json.dumps(spec.to_json()))
    assert parse_spec(stored) == spec
    assert spec.match_keys == [MatchKey.EMAIL, MatchKey.EXTERNAL_ID]
    assert spec.policies.leaver is LeaverPolicy.IGNORE
    assert spec.policies.base_role is None
    not_rule = spec.rules[-1].when
    assert isinstance(not_rule, NotOf) and isinstance(not_rule.not_, Equals)
    assert stored["rules"][-1]["when"] == {"not": {"attr": "custom.contract", "op": "equals", "value": "contractor"}}


def test_defaults_give_a_working_pipeline() -> None:
    spec = PipelineSpec()

    assert spec.match_keys == [MatchKey.EXTERNAL_ID, MatchKey.EMAIL, MatchKey.USERNAME]
    assert spec.mapping.username == "work_email" and spec.mapping.external_id == "hr_id"
    assert spec.policies.manager_role is LogicalRole.MANAGER
    assert spec.policies.base_role is None  # learners are whoever is enrolled; no system-wide role
    assert (spec.policies.deactivation_guard.percent, spec.policies.deactivation_guard.min_count) == (10, 25)
    assert spec.policies.provision_days_before_start == 7  # a future hire's account a week before day one
    assert spec.policies.leaver is LeaverPolicy.DEACTIVATE  # suspend, never delete, by default
    assert spec.policies.unenrol is UnenrolPolicy.IF_NOT_STARTED
    assert spec.policies.drift is DriftPolicy.REPAIR  # full runs repair hand-made changes
    assert spec.mapping.fields == {}


def test_values_are_trimmed_and_cron_spacing_normalised() -> None:
    spec = parse_spec({**_rule({"attr": "department", "op": "in", "value": [" Sales "]}), "schedule": " 0  3 * * * "})

    assert isinstance(spec.rules[0].when, In) and spec.rules[0].when.value == ["Sales"]
    assert spec.schedule == "0 3 * * *"


MALFORMED = [
    pytest.param(
        _rule({"all": [{"op": "is_manager"}, {"attr": "department", "op": "in", "value": "Sales"}]}),
        "rules[0].when.all[1].value",
        "valid list",
        id="in-with-a-string",
    ),
    pytest.param(
        _rule({"attr": "department", "op": "equals", "value": ["Sales"]}),
        "rules[0].when.value",
        "valid string",
        id="equals-with-a-list",
    ),
    pytest.param(
        _rule({"attr": "department", "op": "equals", "value": 7}), "rules[0].when.value", "valid string", id="number"
    ),
    pytest.param(
        _rule({"attr": "department", "op": "in", "value": []}), "rules[0].when.value", "at least 1", id="in-empty"
    ),
    pytest.param(
        _rule({"any": [{"not": {"op": "between"}}]}), "rules[0].when.any[0].not", "'between'", id="unknown-op-deep"
    ),
    pytest.param(_rule({"attr": "dept", "op": "exists"}), "rules[0].when.attr", "unknown attribute 'dept'", id="attr"),
    pytest.param(_rule({"attr": "custom.", "op": "exists"}), "rules[0].when.attr", "unknown attribute", id="custom-"),
    pytest.param(
        _rule({"attr": "location", "op": "exists", "value": "x"}),
        "rules[0].when.value",
        "Extra inputs",
        id="exists-value",
    ),
    pytest.param(_rule({"op": "hired_within_days", "days": -1}), "rules[0].when.days", "greater than", id="days<0"),
    pytest.param(
        _rule({"op": "hired_within_days", "days": "30"}), "rules[0].when.days", "valid integer", id="days-str"
    ),
    pytest.param(_rule({"op": "hired_within_days"}), "rules[0].when.days", "Field required", id="days-missing"),
    pytest.param(_rule({"all": []}), "rules[0].when.all", "at least 1", id="empty-all"),
    pytest.param(_rule({"department": "Sales"}), "rules[0].when", "a condition is", id="not-a-condition"),
    pytest.param(_rule({"all": [], "any": []}), "rules[0].when", "a condition is", id="two-combinators"),
    pytest.param(_rule({"op": "is_manager"}, roles=["boss"]), "rules[0].roles[0]", "'learner'", id="unknown-role"),
    pytest.param(_rule({"op": "is_manager"}, enrol=[" "]), "rules[0].enrol[0]", "at least 1", id="blank-course"),
    pytest.param({"rules": [{"when": {"op": "is_manager"}}]}, "rules[0].name", "Field required", id="no-name"),
    pytest.param(
        {"rules": [{"name": "a", "when": {"op": "is_manager"}}, {"name": "A ", "when": {"op": "is_manager"}}]},
        "rules",
        "rules[1] repeats the name",
        id="duplicate-name",
    ),
    pytest.param({"schedule": "* * * *"}, "schedule", "5-field cron", id="cron-4-fields"),
    pytest.param({"schedule": "0 0 * * * *"}, "schedule", "5-field cron", id="cron-seconds"),
    pytest.param({"full_reconcile_schedule": "61 * * * *"}, "full_reconcile_schedule", "5-field cron", id="cron-61"),
    pytest.param({"schedule": "@daily"}, "schedule", "5-field cron", id="cron-macro"),
    pytest.param({"mapping": {"username": "email"}}, "mapping.username", "'work_email'", id="mapping"),
    pytest.param({"mapping": {"sso": {"auth": "saml2", "subject": "phone"}}}, "mapping.sso.subject", "", id="sso-subj"),
    pytest.param({"match_keys": ["email", "email"]}, "match_keys", "listed twice", id="match-keys-twice"),
    pytest.param(
        {"policies": {"provision_days_before_start": -1}},
        "policies.provision_days_before_start",
        "greater than or equal to 0",
        id="negative-lead-time",
    ),
    pytest.param({"policies": {"drift": "fix"}}, "policies.drift", "'repair'", id="drift-policy"),
    pytest.param({"match_keys": []}, "match_keys", "at least 1", id="no-match-keys"),
    pytest.param({"policies": {"leaver": "shred"}}, "policies.leaver", "'deactivate'", id="leaver-policy"),
    pytest.param(
        {"policies": {"deactivation_guard": {"percent": 150}}},
        "policies.deactivation_guard.percent",
        "less than or equal to 100",
        id="guard-percent",
    ),
    pytest.param({"rulez": []}, "rulez", "Extra inputs", id="unknown-key"),
]


@pytest.mark.parametrize(("document", "path", "message"), MALFORMED)
def test_a_malformed_document_is_rejected_with_the_path_to_the_problem(
    document: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(document)

    assert [issue.path for issue in caught.value.issues] == [path]
    assert message in caught.value.issues[0].message
    assert path in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "rules": [
            {"name": "a", "when": {"attr": "department", "op": "in", "value": "Sales"}},
            {"name": "b", "when": {"op": "is_manager"}, "roles": ["root"]},
        ],
        "schedule": "never",
    }
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(document)

    assert sorted(issue.path for issue in caught.value.issues) == [
        "rules[0].when.value",
        "rules[1].roles[0]",
        "schedule",
    ]


def test_the_json_schema_tells_editors_which_fields_each_op_takes() -> None:
    schema = PipelineSpec.model_json_schema()
    defs = schema["$defs"]

    leaf_union = next(item for item in defs["AllOf"]["properties"]["all"]["items"]["oneOf"] if "discriminator" in item)
    assert leaf_union["discriminator"]["propertyName"] == "op"
    assert set(leaf_union["discriminator"]["mapping"]) == {
        "equals",
        "in",
        "prefix",
        "exists",
        "hired_within_days",
        "is_manager",
    }
    assert defs["In"]["properties"]["value"]["type"] == "array"
    assert defs["Exists"]["additionalProperties"] is False
    assert "not" in defs["NotOf"]["properties"]
