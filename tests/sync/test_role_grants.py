"""A role grant carries exactly the scope ids its scope has (`desired.RoleGrant`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from enrolsync.connectors.model import RoleScope
from enrolsync.sync.rules.desired import RoleGrant


@pytest.mark.parametrize(
    "grant",
    [{}, {"scope": RoleScope.COURSE, "scope_id": "C1"}, {"scope": RoleScope.USER, "scope_hr_id": "e1"}],
)
def test_a_grant_with_its_scopes_ids_is_valid(grant: dict[str, Any]) -> None:
    assert RoleGrant(role="r", **grant).role == "r"


@pytest.mark.parametrize(
    "grant",
    [
        {"scope_id": "C1"},
        {"scope": RoleScope.COURSE},
        {"scope": RoleScope.COURSE, "scope_id": "C1", "scope_hr_id": "e1"},
        {"scope": RoleScope.USER, "scope_id": "C1"},
    ],
)
def test_a_grant_with_other_scope_ids_is_refused(grant: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RoleGrant(role="r", **grant)
