"""Whether a pipeline document asks only for what its target can do, checked when the pipeline is written (pure).

A rule that adds groups on a target without groups (Moodle) would otherwise be accepted and fail at apply, op by
op; checking the document against the target connector's declared capabilities turns that into one clear refusal
naming the field (`spec.rules[i].groups`) before anything runs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from enrolsync.connectors.base import Capability
from enrolsync.sync.rules.policy import LeaverPolicy
from enrolsync.sync.rules.spec import PipelineSpec


@dataclass(frozen=True)
class Misfit:
    """One thing the document asks of a target that cannot do it: where (a path under `spec`) and why."""

    path: str
    message: str


def _lacks(capability: Capability, what: str, target: str) -> str:
    return f"{what} needs the target to support {capability.value!r}, and {target!r} does not"


def misfits(spec: PipelineSpec, capabilities: Collection[Capability], *, target: str) -> list[Misfit]:
    """What in `spec` the target connector `target`, declaring `capabilities`, cannot perform; empty when all fits.

    Checked: enrolments (`ENROLMENTS`), system roles (`ROLES`), groups (`GROUPS`), the SSO mapping (`SSO`), the
    manager role over reports (`MANAGER_SCOPE`; it is on by default, so a pipeline on a target without it sets
    `policies.manager_role` to null) and `LeaverPolicy.DELETE` (`HARD_DELETE`).
    """
    found: list[Misfit] = []
    per_rule = (
        ("enrol", Capability.ENROLMENTS, "enrolling in courses"),
        ("roles", Capability.ROLES, "granting roles"),
        ("groups", Capability.GROUPS, "adding to groups"),
    )
    for index, rule in enumerate(spec.rules):
        for name, capability, what in per_rule:
            if getattr(rule, name) and capability not in capabilities:
                found.append(Misfit(f"rules[{index}].{name}", _lacks(capability, what, target)))
    if spec.mapping.sso is not None and Capability.SSO not in capabilities:
        found.append(Misfit("mapping.sso", _lacks(Capability.SSO, "setting an SSO identity", target)))
    if spec.policies.manager_role is not None and Capability.MANAGER_SCOPE not in capabilities:
        what = "a manager role over direct reports"
        found.append(Misfit("policies.manager_role", _lacks(Capability.MANAGER_SCOPE, what, target)))
    if spec.policies.leaver is LeaverPolicy.DELETE and Capability.HARD_DELETE not in capabilities:
        found.append(Misfit("policies.leaver", _lacks(Capability.HARD_DELETE, "deleting leavers' accounts", target)))
    return found
