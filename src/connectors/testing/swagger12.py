"""Check requests and answers against a vendor's Swagger 1.2 documents (Canvas publishes its API in that form).

Swagger 1.2 predates OpenAPI: each document lists `apis[].operations[]` (method, `parameters` with `paramType`
path | query | form, a response `type` naming a model or `array` of one) and `models` with `properties`. It carries
no response headers, status codes or nullability, so: every property may be null (Canvas sends nulls freely),
only 2xx JSON answers are checked, and paging parameters (`page`, `per_page`, described in prose) are allowed on
every GET. A Rails-style array parameter `state[]` is the document's `state` of type array.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

PAGING = frozenset({"page", "per_page"})
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: Mapping[str, Mapping[str, Any]]
    type: str
    items: str | None


@dataclass
class SwaggerDocs:
    """The operations and models of several Swagger 1.2 documents of one API."""

    operations: list[Operation] = field(default_factory=list)
    models: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    prefix: str = "/api"

    @classmethod
    def load(cls, paths: Iterable[Path], *, prefix: str = "/api") -> SwaggerDocs:
        docs = cls(prefix=prefix)
        for path in paths:
            document = json.loads(path.read_text())
            docs.models.update(document.get("models", {}))
            for api in document["apis"]:
                regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(api["path"]))
                for op in api["operations"]:
                    params = {p["name"]: p for p in op.get("parameters", [])}
                    items = op.get("items", {}).get("$ref") if isinstance(op.get("items"), dict) else None
                    docs.operations.append(
                        Operation(op["method"], api["path"], re.compile(regex), params, op.get("type", "void"), items)
                    )
        return docs

    def operation(self, method: str, path: str) -> Operation | None:
        """The documented operation for a request path (literal segments preferred over `{id}` ones)."""
        path = path.removeprefix(self.prefix)
        found = [op for op in self.operations if op.method == method and op.pattern.fullmatch(path)]
        found.sort(key=lambda op: op.template.count("{"))
        return found[0] if found else None

    # -- requests -------------------------------------------------------------------------------------------------
    def request_problems(
        self, request: httpx.Request, op: Operation, *, extra: frozenset[str] = frozenset()
    ) -> list[str]:
        """Parameters the operation does not document, missing required ones, values outside an enum."""
        where = f"{op.method} {op.template}"
        pairs = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        if request.content and "form" in request.headers.get("Content-Type", ""):
            pairs += parse_qsl(request.content.decode(), keep_blank_values=True)
        problems: list[str] = []
        seen: set[str] = set()
        for name, value in pairs:
            base = name.removesuffix("[]")
            seen.add(base)
            spec = op.parameters.get(name) or op.parameters.get(base)
            if spec is None:
                if base not in extra and not (op.method == "GET" and base in PAGING):
                    problems.append(f"{where}: undocumented parameter {name!r}")
                continue
            if name.endswith("[]") and spec.get("type") != "array":
                problems.append(f"{where}: {base!r} is not an array parameter")
            if spec.get("enum") and value not in spec["enum"]:
                problems.append(f"{where}: {name}={value!r} is not one of {spec['enum']}")
        for name, spec in op.parameters.items():
            if spec.get("required") and spec.get("paramType") != "path" and name not in seen:
                problems.append(f"{where}: required parameter {name!r} missing")
        return problems

    # -- answers --------------------------------------------------------------------------------------------------
    def response_problems(self, response: httpx.Response, op: Operation) -> list[str]:
        """Fields of a 2xx JSON answer the operation's model does not have, or of the wrong type."""
        if not response.is_success or op.type == "void":
            return []
        where = f"{op.method} {op.template}"
        body = response.json()
        if op.type == "array":
            if not isinstance(body, list):
                return [f"{where}: expected an array"]
            return [p for item in body for p in self.value_problems(item, {"$ref": op.items}, where)]
        return self.value_problems(body, {"$ref": op.type} if op.type in self.models else {"type": op.type}, where)

    def value_problems(self, value: Any, spec: Mapping[str, Any], where: str) -> list[str]:
        if value is None:
            return []
        ref = spec.get("$ref") or (spec.get("type") if spec.get("type") in self.models else None)
        if ref:
            return self._object_problems(value, ref, where)
        kind = spec.get("type")
        checks = {
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "string": lambda v: isinstance(v, str),
            "boolean": lambda v: isinstance(v, bool),
            "object": lambda v: isinstance(v, dict),
            "datetime": lambda v: isinstance(v, str) and bool(_DATETIME.match(v)),
        }
        if kind == "string" and spec.get("format") == "date-time":
            kind = "datetime"
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {type(value).__name__}"]
            return [p for v in value for p in self.value_problems(v, spec.get("items", {}), where)]
        check = checks.get(str(kind))
        if check is not None and not check(value):
            return [f"{where}: {value!r} is not a {kind}"]
        allowed = spec.get("allowableValues", {}).get("values")
        if allowed and value not in allowed:
            return [f"{where}: {value!r} is not one of {allowed}"]
        return []

    def _object_problems(self, value: Any, model_name: str, where: str) -> list[str]:
        model = self.models.get(model_name)
        if model is None:
            return [f"{where}: model {model_name} is not in the documents"]
        if not isinstance(value, dict):
            return [f"{where}: a {model_name} must be an object"]
        properties = model.get("properties", {})
        problems = [f"{where}: {model_name} has no field {k!r}" for k in value if k not in properties]
        problems += [f"{where}: {model_name} lacks required {k!r}" for k in model.get("required", []) if k not in value]
        for key, item in value.items():
            if key in properties:
                problems += self.value_problems(item, properties[key], f"{where} {model_name}.{key}")
        return problems
