"""Why a person is (or is not) enrolled: every rule, whether it matched, and each leaf's actual vs expected value.

Uses the leaf checks of `evaluate.py`, so an explanation always agrees with the desired state a run computed.
Unlike evaluation, tracing never short-circuits: every leaf of every rule is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from enrolsync.connectors.model import Person
from enrolsync.sync.rules.evaluate import Facts, check_leaf
from enrolsync.sync.rules.spec import AllOf, AnyOf, Condition, NotOf, PipelineSpec


class _Verdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeafVerdict(_Verdict):
    """One leaf of a rule's condition: what it compared and the outcome.

    `matched` is the leaf's own outcome; under a `not` the rule needs it to be False.
    """

    path: str
    op: str
    attr: str | None = None
    expected: str | int | list[str] | None = None
    actual: str | int | None = None
    matched: bool


class RuleVerdict(_Verdict):
    """One rule: whether its condition held and what it would give the person."""

    rule: str
    matched: bool
    enrol: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    leaves: tuple[LeafVerdict, ...] = ()


def _combine(
    reduce: Callable[[Iterable[bool]], bool], children: Sequence[Condition], facts: Facts, path: str
) -> tuple[bool, list[LeafVerdict]]:
    outcomes: list[bool] = []
    leaves: list[LeafVerdict] = []
    for index, child in enumerate(children):
        matched, child_leaves = _trace(child, facts, f"{path}[{index}]")
        outcomes.append(matched)
        leaves += child_leaves
    return reduce(outcomes), leaves


def _trace(condition: Condition, facts: Facts, path: str) -> tuple[bool, list[LeafVerdict]]:
    if isinstance(condition, AllOf):
        return _combine(all, condition.all, facts, f"{path}.all")
    if isinstance(condition, AnyOf):
        return _combine(any, condition.any, facts, f"{path}.any")
    if isinstance(condition, NotOf):
        matched, leaves = _trace(condition.not_, facts, f"{path}.not")
        return not matched, leaves
    check = check_leaf(condition, facts)
    verdict = LeafVerdict(
        path=path,
        op=condition.op,
        attr=getattr(condition, "attr", None),
        expected=check.expected,
        actual=check.actual,
        matched=check.matched,
    )
    return check.matched, [verdict]


def explain(person: Person, spec: PipelineSpec, *, direct_reports: frozenset[str], today: date) -> list[RuleVerdict]:
    """Every rule of `spec` evaluated for `person`, in the spec's order, with each leaf's actual and expected value.

    Answers "why isn't Jane enrolled in Safety 101?": find the rules that enrol in it and read their leaves.
    Takes the same arguments as `evaluate.desired_state`; whether an inactive person's account gets the
    enrolments is the planner's decision, not shown here.
    """
    facts = Facts.of(person, direct_reports, today)
    verdicts: list[RuleVerdict] = []
    for rule in spec.rules:
        matched, leaves = _trace(rule.when, facts, "when")
        verdicts.append(
            RuleVerdict(
                rule=rule.name,
                matched=matched,
                enrol=tuple(rule.enrol),
                roles=tuple(rule.roles),
                groups=tuple(rule.groups),
                leaves=tuple(leaves),
            )
        )
    return verdicts
