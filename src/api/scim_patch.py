"""PATCH bodies as Microsoft Entra ID sends them, reshaped into RFC 7644 section 3.5.2 before `scim2-models` reads them.

Entra's provisioning service (https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups,
"Known issues" and the `aadOptscim062020` feature flag) sends, besides plain RFC operations:
- `replace` without a `path` whose `value` object is keyed by attribute *paths* (`"name.givenName"`, a full
  extension URN such as `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"`); each such key
  becomes its own operation with that path;
- the enterprise `manager` as the manager's id string (or `[{"value": id}]`) rather than `{"value": id}`, and a
  `remove` of the manager naming the one it removes (a `remove` carries no value in RFC 7644);
- string booleans (`"True"`, `"False"`) and capitalised op names (`"Replace"`): the library accepts these itself.
Everything else is passed through unchanged and validated by the library.
"""

from __future__ import annotations

from typing import Any

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"


def _manager(value: Any) -> Any:
    if isinstance(value, str):
        return {"value": value} if value else None
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return value


def _operation(operation: Any) -> list[Any]:
    if not isinstance(operation, dict):
        return [operation]
    path, value = operation.get("path"), operation.get("value")
    if isinstance(path, str) and path.casefold() == MANAGER:
        if str(operation.get("op", "")).casefold() == "remove":
            # One manager: removing it needs no value, though Entra may name the one it removes.
            return [{k: v for k, v in operation.items() if k != "value"}]
        return [{**operation, "value": _manager(value)}]
    if path or not isinstance(value, dict):
        return [operation]
    plain = {k: v for k, v in value.items() if "." not in k and ":" not in k}
    split = [
        {"op": operation.get("op"), "path": key, "value": _manager(v) if key.casefold() == MANAGER else v}
        for key, v in value.items()
        if key not in plain
    ]
    return ([{**operation, "value": plain}] if plain else []) + split


def entra_patch(body: Any) -> Any:
    """`body` with its operations in RFC shape (see the module docstring); anything not a PatchOp is returned as is."""
    if not isinstance(body, dict):
        return body
    key = next((k for k in body if k.casefold() == "operations"), None)
    if key is None or not isinstance(body[key], list):
        return body
    return {**body, key: [reshaped for op in body[key] for reshaped in _operation(op)]}


def with_manager_ref(body: Any, users_url: str) -> Any:
    """`body` (a User being created or replaced) with the enterprise `manager.$ref` filled in from its `value`.

    RFC 7643 section 4.3 marks `$ref` required, but neither Entra nor Okta sends it (they send `value`, the
    manager's id, and perhaps `displayName`); the reference is the manager's location here, which we know.
    """
    if not isinstance(body, dict):
        return body
    key = next((k for k in body if k.casefold() == MANAGER.rsplit(":", 1)[0]), None)
    extension = body.get(key) if key else None
    manager = extension.get("manager") if isinstance(extension, dict) else None
    if isinstance(manager, str):
        manager = {"value": manager}
    if key is None or not isinstance(extension, dict) or not isinstance(manager, dict):
        return body
    if manager.get("$ref") or not isinstance(manager.get("value"), str):
        return body
    return {**body, key: {**extension, "manager": {**manager, "$ref": f"{users_url}/{manager['value']}"}}}
