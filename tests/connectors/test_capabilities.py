"""What each built-in target can do, as `GET /connectors` shows it: the engine plans only declared capabilities,
so a missing one is a documented gap (Moodle core web services have no groups/cohorts writes and no deletes)."""

from __future__ import annotations

import pytest

from enrolsync.connectors.base import Capability
from enrolsync.connectors.canvas import CanvasTarget
from enrolsync.connectors.docebo import DoceboTarget
from enrolsync.connectors.learnupon import LearnUponTarget
from enrolsync.connectors.memory import MemoryTarget
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.scim import ScimTarget
from enrolsync.connectors.talentlms import TalentLMSTarget

C = Capability
LIFECYCLE = {C.ACCOUNTS, C.ENROLMENTS, C.ROLES, C.SSO, C.MANAGER_SCOPE}


@pytest.mark.parametrize(
    ("target", "can", "cannot"),
    [
        # DUE_DATES only where an enrolment has a due date that leaves access alone (LearnUpon `due_date`); an
        # access end (Moodle `timeend`, Canvas `end_at`, Docebo `date_expire_validity`) would lock out the overdue.
        pytest.param(
            MoodleTarget,
            LIFECYCLE | {C.COURSES, C.PROGRESS, C.ROLES_LISTED},
            {C.GROUPS, C.HARD_DELETE, C.DUE_DATES},
            id="moodle",
        ),
        pytest.param(
            MemoryTarget,
            LIFECYCLE | {C.GROUPS, C.COURSES, C.HARD_DELETE, C.PROGRESS, C.ROLES_LISTED},
            {C.DUE_DATES},
            id="memory",
        ),
        # Roles listed but not yet checked to list back exactly what they grant: drift trusts their links.
        pytest.param(
            TalentLMSTarget,
            LIFECYCLE | {C.GROUPS, C.COURSES, C.HARD_DELETE, C.PROGRESS},
            {C.ROLES_LISTED, C.DUE_DATES},
            id="talentlms",
        ),
        pytest.param(
            LearnUponTarget,
            LIFECYCLE | {C.GROUPS, C.COURSES, C.PROGRESS, C.DUE_DATES},
            {C.HARD_DELETE, C.ROLES_LISTED},
            id="learnupon",
        ),
        pytest.param(
            CanvasTarget,
            LIFECYCLE | {C.COURSES, C.HARD_DELETE, C.PROGRESS},
            {C.GROUPS, C.ROLES_LISTED, C.DUE_DATES},
            id="canvas",
        ),
        pytest.param(
            DoceboTarget,
            LIFECYCLE | {C.GROUPS, C.COURSES, C.PROGRESS},
            {C.HARD_DELETE, C.ROLES_LISTED, C.DUE_DATES},
            id="docebo",
        ),
        pytest.param(
            ScimTarget,
            LIFECYCLE - {C.SSO} | {C.GROUPS, C.COURSES, C.HARD_DELETE, C.ROLES_LISTED},
            {C.SSO, C.PROGRESS, C.DUE_DATES},
            id="scim",
        ),
    ],
)
def test_targets_declare_what_they_can_and_cannot_do(
    target: type, can: set[Capability], cannot: set[Capability]
) -> None:
    declared = target.info.capabilities  # type: ignore[attr-defined]

    assert can <= declared
    assert not cannot & declared
