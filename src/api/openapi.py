"""The OpenAPI document, completed with what only the running app knows.

Connection configs depend on the connector, so `ConnectionCreate.config` is a plain object to FastAPI. Here each
installed connector's config model is added as a component (secret fields `writeOnly`, as pydantic marks
`SecretStr`), `config` is described as one of them, and pipeline `spec` inputs point at the `PipelineSpec` schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from enrolsync.connectors.registry import Registry

_REF = "#/components/schemas/{model}"
# RFC 7644 section 3.12: what `/scim/v2` answers on an error (`status` is a string there).
SCIM_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["schemas", "status"],
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string"},
        "scimType": {"type": "string"},
        "detail": {"type": "string"},
    },
}


def _spec_ref(schemas: dict[str, Any]) -> dict[str, Any] | None:
    # FastAPI names the response-side copy `PipelineSpec-Output` when input and output schemas differ.
    for name in ("PipelineSpec", "PipelineSpec-Output"):
        if name in schemas:
            return {"$ref": _REF.format(model=name)}
    return None


def _add_connector_configs(schemas: dict[str, Any], registry: Registry) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for info in registry:
        model = info.config_model
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        ref = {"$ref": _REF.format(model=model.__name__)}
        if ref not in refs:
            refs.append(ref)
    return refs


def _point(schemas: dict[str, Any], model: str, field: str, extra: dict[str, Any]) -> None:
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    if prop is None:
        return
    description = prop.get("description")
    prop.clear()
    prop.update(extra)
    if description:
        prop["description"] = description


def _problem_bodies(document: dict[str, Any]) -> None:
    # Every error answers a problem document (problems.py); FastAPI would document its own 422 body and JSON.
    problem = {"application/problem+json": {"schema": {"$ref": _REF.format(model="ProblemDocument")}}}
    for path, operations in document.get("paths", {}).items():
        if path.startswith("/scim/"):
            continue  # SCIM answers its own error messages (routes/scim.py)
        for operation in operations.values():
            if "requestBody" in operation:
                # A body that is not text in its declared encoding never reaches validation: FastAPI answers 400.
                operation.setdefault("responses", {}).setdefault("400", {"description": "Malformed request body"})
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = problem
    schemas = document["components"]["schemas"]
    if "ProblemDocument" in schemas:
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)


def build(app: FastAPI, registry: Registry | None) -> dict[str, Any]:
    """The OpenAPI document of `app`, with connector configs when `registry` is known."""
    document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    spec = _spec_ref(schemas)
    if spec is not None:
        _point(schemas, "PipelineCreate", "spec", spec)
        _point(schemas, "PipelineUpdate", "spec", {"anyOf": [spec, {"type": "null"}]})
    _problem_bodies(document)
    schemas["ScimError"] = SCIM_ERROR
    if registry is not None:
        refs = _add_connector_configs(schemas, registry)
        if refs:
            _point(schemas, "ConnectionCreate", "config", {"anyOf": refs})
    return document


def install(app: FastAPI) -> None:
    """Serve `build(app, <the running app's registry>)` as the app's OpenAPI document, cached once complete."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        services = getattr(app.state, "services", None)
        document = build(app, services.registry if services is not None else None)
        if services is not None:
            app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
