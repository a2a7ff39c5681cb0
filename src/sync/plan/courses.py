"""Courses by the names admins use: a rule may name a course by its id or by a key the target lists it under (a
Moodle shortname or ID number, a catalogue code), and each run resolves those names to course ids once.

Resolution never guesses. A name that is a course id is that course (ids are what pipelines written before keys
existed hold, and an id names one course). Otherwise the name must be exactly one course's key; a name no course
has is `unknown`, a name two courses share is `ambiguous`. Either way the rule's enrolment in it is left out of
the plan and reported on the run, per rule, so a dry run shows a typo before anything is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from enrolsync.connectors.model import Course
from enrolsync.sync.rules.spec import PipelineSpec


@dataclass(frozen=True)
class Unresolved:
    """A course a rule names that is not exactly one course of the target."""

    rule: str
    course: str
    reason: str  # "unknown" or "ambiguous: 12, 31"

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "course": self.course, "reason": self.reason}


@dataclass
class Catalogue:
    """The target's courses, indexed by id and by every key."""

    ids: set[str] = field(default_factory=set)
    by_key: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, courses: Iterable[Course]) -> Catalogue:
        catalogue = cls()
        for course in courses:
            catalogue.ids.add(course.course_id)
            for value in course.keys.values():
                catalogue.by_key[value].add(course.course_id)
        return catalogue

    def resolve(self, name: str) -> str | set[str]:
        """The course id `name` stands for, or the (empty or several) ids it could mean."""
        if name in self.ids:
            return name
        found = self.by_key.get(name, set())
        return next(iter(found)) if len(found) == 1 else found


def resolve_spec(spec: PipelineSpec, catalogue: Catalogue) -> tuple[PipelineSpec, list[Unresolved]]:
    """`spec` with every rule's `enrol` in course ids, and the names that could not be resolved (left out)."""
    unresolved: list[Unresolved] = []
    rules = []
    for rule in spec.rules:
        ids: list[str] = []
        for name in rule.enrol:
            found = catalogue.resolve(name)
            if isinstance(found, str):
                ids.append(found)
            elif found:
                unresolved.append(Unresolved(rule.name, name, "ambiguous: " + ", ".join(sorted(found))))
            else:
                unresolved.append(Unresolved(rule.name, name, "unknown"))
        rules.append(rule.model_copy(update={"enrol": list(dict.fromkeys(ids))}))
    return spec.model_copy(update={"rules": rules}), unresolved
