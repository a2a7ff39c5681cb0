"""Health, readiness, the connector catalogue and the OpenAPI document."""

from __future__ import annotations

import httpx

from enrolsync.connectors.registry import Registry


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ok"}


async def test_connectors_list_their_schema_and_load_errors(client: httpx.AsyncClient, registry: Registry) -> None:
    registry.errors["broken"] = "ImportError: no module named vendor_sdk"

    body = (await client.get("/connectors")).json()

    by_key = {c["key"]: c for c in body["items"]}
    assert sorted(by_key) == ["keeping-target", "memory-source", "memory-target", "strict-source"]
    assert by_key["memory-source"]["kind"] == "hris"
    assert "persons_full" in by_key["memory-source"]["capabilities"]
    assert by_key["memory-target"]["config_schema"]["properties"]["token"]["writeOnly"] is True
    assert body["errors"] == [{"key": "broken", "error": "ImportError: no module named vendor_sdk"}]


async def test_one_connector_and_unknown_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/connectors/memory-target")).json()["kind"] == "lms"
    assert (await client.get("/connectors/nope")).status_code == 404


async def test_openapi_marks_secrets_write_only_and_documents_problems(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    schemas = document["components"]["schemas"]
    assert schemas["StrictConfig"]["properties"]["api_key"]["writeOnly"] is True
    config_refs = schemas["ConnectionCreate"]["properties"]["config"]["anyOf"]
    assert {"$ref": "#/components/schemas/StrictConfig"} in config_refs
    assert "secrets" not in schemas["ConnectionPublic"]["properties"]
    assert schemas["PipelineCreate"]["properties"]["spec"]["$ref"] == "#/components/schemas/PipelineSpec"
    create = document["paths"]["/connections"]["post"]["responses"]
    assert "application/problem+json" in create["422"]["content"]


async def test_openapi_documents_bearer_auth_roles_and_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    paths = document["paths"]
    assert "security" not in paths["/health"]["get"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            # Webhooks prove themselves by signature, SCIM calls by the connection's own SCIM token (SCIM errors).
            unguarded = path in ("/health", "/ready", "/healthz", "/readyz", "/metrics")
            if unguarded or path.startswith(("/webhooks", "/scim/")):
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"] == "#/components/schemas/ProblemDocument"
    schemas = document["components"]["schemas"]
    for name in ("ConnectionCreate", "ConnectionUpdate", "PipelineCreate", "PipelineUpdate", "RunCreate"):
        assert schemas[name]["examples"], name
    assert set(paths["/runs/{run_id}/apply"]["post"]["responses"]) >= {"202", "404", "409"}


def test_the_documented_examples_are_valid_requests() -> None:
    from enrolsync.api import schemas
    from enrolsync.sync.rules.spec import parse_spec

    models = (
        schemas.ConnectionCreate,
        schemas.ConnectionUpdate,
        schemas.PipelineCreate,
        schemas.PipelineUpdate,
        schemas.RunCreate,
    )
    for model in models:
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)
            if example.get("spec") is not None:
                parse_spec(example["spec"])
