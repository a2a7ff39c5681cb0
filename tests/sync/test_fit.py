"""A pipeline document checked against what its target can do: each misfit names the field that asks too much."""

from __future__ import annotations

from typing import Any

from enrolsync.connectors.memory import MemoryTarget
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.sync.rules.fit import Misfit, misfits
from enrolsync.sync.rules.spec import parse_spec
from tests.support.factories import RULES

EVERYONE = {"attr": "department", "op": "exists"}


def _spec(**extra: Any) -> Any:
    return parse_spec({**RULES, **extra})


def test_groups_on_moodle_are_refused_by_rule_and_field() -> None:
    spec = _spec(
        rules=[{"name": "all", "when": EVERYONE, "enrol": ["C1"]}, {"name": "g", "when": EVERYONE, "groups": ["all"]}]
    )

    found = misfits(spec, MoodleTarget.info.capabilities, target="moodle")

    assert found == [
        Misfit("rules[1].groups", "adding to groups needs the target to support 'groups', and 'moodle' does not")
    ]


def test_deleting_leavers_needs_a_target_that_deletes() -> None:
    spec = _spec(policies={"leaver": "delete"})

    assert [m.path for m in misfits(spec, MoodleTarget.info.capabilities, target="moodle")] == ["policies.leaver"]


def test_a_target_without_roles_or_sso_or_manager_scope_is_told_each() -> None:
    spec = _spec(
        rules=[{"name": "t", "when": EVERYONE, "roles": ["instructor"]}],
        mapping={"username": "work_email", "sso": {"auth": "saml2"}},
    )

    found = misfits(spec, frozenset(), target="bare")

    assert [m.path for m in found] == ["rules[0].roles", "mapping.sso", "policies.manager_role"]


def test_the_default_rules_fit_the_shipped_targets() -> None:
    for target in (MemoryTarget, MoodleTarget):
        assert misfits(_spec(), target.info.capabilities, target=target.info.key) == []
