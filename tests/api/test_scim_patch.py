"""Entra's PATCH shapes reshaped into RFC 7644 before scim2-models reads them (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from enrolsync.api.scim_patch import entra_patch, with_manager_ref

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER = f"{ENTERPRISE}:manager"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(operations)}


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        # a pathless replace keyed by attribute paths: one operation per path, plain keys kept together
        (
            ops(
                {"op": "Replace", "value": {"displayName": "A", "name.givenName": "B", f"{ENTERPRISE}:department": "C"}}
            ),
            ops(
                {"op": "Replace", "value": {"displayName": "A"}},
                {"op": "Replace", "path": "name.givenName", "value": "B"},
                {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "C"},
            ),
        ),
        # the manager as a bare id, with or without a path
        (
            ops({"op": "Add", "path": MANAGER, "value": "m1"}),
            ops({"op": "Add", "path": MANAGER, "value": {"value": "m1"}}),
        ),
        (
            ops({"op": "replace", "value": {MANAGER: "m1"}}),
            ops({"op": "replace", "path": MANAGER, "value": {"value": "m1"}}),
        ),
        (
            ops({"op": "Add", "path": MANAGER, "value": [{"value": "m1"}]}),
            ops({"op": "Add", "path": MANAGER, "value": {"value": "m1"}}),
        ),
        (
            ops({"op": "Remove", "path": MANAGER, "value": [{"value": "m1"}]}),
            ops({"op": "Remove", "path": MANAGER}),
        ),
        # RFC shapes pass unchanged
        (
            ops({"op": "replace", "path": "active", "value": "False"}),
            ops({"op": "replace", "path": "active", "value": "False"}),
        ),
        (ops({"op": "replace", "value": {"active": False}}), ops({"op": "replace", "value": {"active": False}})),
        ("not a patch", "not a patch"),
    ],
)
def test_entra_shapes_become_rfc_operations(sent: Any, read: Any) -> None:
    assert entra_patch(sent) == read


def test_the_manager_reference_is_filled_in_only_when_missing() -> None:
    users = "https://enrolsync.test/scim/v2/Users"
    bare = {"userName": "a", ENTERPRISE: {"manager": {"value": "m1"}}}
    given = {"userName": "a", ENTERPRISE: {"manager": {"value": "m1", "$ref": "elsewhere"}}}

    assert with_manager_ref(bare, users)[ENTERPRISE]["manager"] == {"value": "m1", "$ref": f"{users}/m1"}
    assert with_manager_ref(given, users) == given
    assert with_manager_ref({"userName": "a"}, users) == {"userName": "a"}
