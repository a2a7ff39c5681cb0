"""Check a fake's requests and responses against a vendor's published OpenAPI document (openapi-core), strictly.

Strict means what the document does not declare fails: an unknown path or method, a query parameter the
operation does not list, a body or response field an object schema does not name (object schemas without
`additionalProperties` are closed; composed ones get `unevaluatedProperties: false` on OpenAPI 3.1), an
undeclared status or content type. Schemas that declare `additionalProperties` keep their own rule.

Vendors often serve the documented paths under another prefix (BambooHR's API-key gateway
`/api/gateway.php/{companyDomain}/v1/...` for the document's `https://{companyDomain}.bamboohr.com/api/v1/...`):
pass `rewrite` to map each request URL onto the document's server before checking.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

Rewrite = Callable[[httpx.URL], httpx.URL]
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_COMPOSITIONS = ("allOf", "anyOf", "oneOf")


class SpecViolation(AssertionError):
    """An exchange the vendor's document does not allow."""


class _Request:
    """openapi-core's request protocol over an httpx request (URL already rewritten)."""

    def __init__(self, request: httpx.Request, url: httpx.URL) -> None:
        self.host_url = f"{url.scheme}://{url.netloc.decode()}"
        self.path = url.path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())), header=Headers(list(request.headers.items()))
        )


class _WebhookRequest:
    def __init__(self, name: str, body: bytes, content_type: str) -> None:
        self.name = name
        self.method = "post"
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters()


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))


class OpenApiSpec:
    """A vendor document ready to check httpx exchanges. Build with `from_file` (parsed once per process)."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        rewrite: Rewrite | None = None,
        strict: bool = True,
        generic_statuses: Collection[int] = (),
    ) -> None:
        """`generic_statuses`: answers any endpoint may give though the document omits them (a gateway's 401,
        a throttling 503); they pass where undeclared and are checked like any other where declared."""
        self.document: dict[str, Any] = _closed(document) if strict else copy.deepcopy(dict(document))
        self._strict = strict
        self._rewrite = rewrite or (lambda url: url)
        self._generic = frozenset(generic_statuses)
        # The document was published by the vendor; checking it is not our job, and takes seconds on big ones.
        # RFC 9457 problem bodies are JSON; openapi-core only knows `application/json` by name.
        config = Config(spec_validator_cls=None, extra_media_type_deserializers={"application/problem+json": _json})
        self._api = OpenAPI.from_dict(self.document, config=config)
        self._routes = list(_routes(self.document))

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        rewrite: Rewrite | None = None,
        strict: bool = True,
        generic_statuses: Collection[int] = (),
    ) -> OpenApiSpec:
        return cls(_load(str(path)), rewrite=rewrite, strict=strict, generic_statuses=generic_statuses)

    def validate(self, request: httpx.Request, response: httpx.Response) -> None:
        """Raise `SpecViolation` unless both the request and its response are what the document declares."""
        self.validate_request(request)
        self.validate_response(request, response)

    def validate_request(self, request: httpx.Request) -> None:
        url = self._rewrite(request.url)
        if self._strict:
            self._check_query_names(request.method, url)
        self._raise(self._api.iter_request_errors(_Request(request, url)), request)

    def validate_response(self, request: httpx.Request, response: httpx.Response) -> None:
        wrapped = _Request(request, self._rewrite(request.url))
        errors = self._api.iter_response_errors(wrapped, _Response(response))
        if response.status_code in self._generic:
            errors = (e for e in errors if not isinstance(e, ResponseNotFound))
        self._raise(errors, request, response)

    def validate_webhook(self, name: str, body: bytes, *, content_type: str = "application/json") -> None:
        """Check a webhook payload against the document's `webhooks.<name>` request body."""
        errors = self._api.iter_webhook_request_errors(_WebhookRequest(name, body, content_type))
        self._raise(errors, None, label=f"webhook {name}")

    def _check_query_names(self, method: str, url: httpx.URL) -> None:
        for pattern, item in self._routes:
            if pattern.fullmatch(url.path) and method.lower() in item:
                allowed = _query_names(self.document, item, method.lower())
                unknown = sorted({k for k in url.params if not any(_names_param(k, a) for a in allowed)})
                if unknown:
                    raise SpecViolation(f"{method} {url.path}: undocumented query parameter(s) {unknown}")
                return

    def _raise(
        self,
        errors: Iterator[Exception],
        request: httpx.Request | None,
        response: httpx.Response | None = None,
        *,
        label: str | None = None,
    ) -> None:
        with warnings.catch_warnings():
            # openapi-core warns once per OAuth2 scheme it cannot check; the fake checks credentials itself.
            warnings.filterwarnings("ignore", message="Unsupported scheme type")
            found = list(errors)
        if not found:
            return
        where = label if label or request is None else f"{request.method} {request.url.path}"
        status = f" -> {response.status_code}" if response is not None else ""
        details = "; ".join(_describe(error) for error in found)
        raise SpecViolation(f"{where}{status}: {details}")


class ExchangeLog:
    """Wraps a fake's handler and keeps every request with the response it got, to check them afterwards."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self._handler = handler
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self._handler(request)
        self.exchanges.append((request, response))
        return response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _json(body: bytes) -> Any:
    return json.loads(body)


def _describe(error: Exception) -> str:
    causes = [error, *(getattr(error, "schema_errors", None) or [])]
    cause = error.__cause__
    while cause is not None:
        causes.extend([cause, *(getattr(cause, "schema_errors", None) or [])])
        cause = cause.__cause__
    return " / ".join(dict.fromkeys(f"{type(c).__name__}: {getattr(c, 'message', None) or c}" for c in causes))


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document: dict[str, Any] = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    return document


def _routes(document: Mapping[str, Any]) -> Iterator[tuple[re.Pattern[str], Mapping[str, Any]]]:
    urls = [re.sub(r"\{[^}]+\}", "x", server.get("url", "")) for server in document.get("servers", [])]
    prefixes = [urlparse(url).path.rstrip("/") for url in urls]
    # Literal templates before templated ones, as openapi-core prefers them.
    for template, item in sorted(document.get("paths", {}).items(), key=lambda kv: kv[0].count("{")):
        body = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        yield re.compile("(?:" + "|".join(re.escape(p) for p in prefixes or [""]) + ")" + body), item


def _query_names(document: Mapping[str, Any], item: Mapping[str, Any], method: str) -> list[tuple[str, bool]]:
    names = []
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        resolved = _resolve(document, parameter)
        if resolved.get("in") == "query":
            names.append((resolved["name"], resolved.get("style") == "deepObject"))
    return names


def _names_param(key: str, allowed: tuple[str, bool]) -> bool:
    name, deep = allowed
    return key == name or (deep and key.startswith(f"{name}["))


def _resolve(document: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _closed(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose object schemas refuse undeclared properties."""
    closed = copy.deepcopy(dict(document))
    is31 = str(closed.get("openapi", "")).startswith("3.1")
    components = closed.get("components", {})
    schemas: dict[str, Any] = components.get("schemas", {})
    # A schema used as an allOf/anyOf/oneOf member must stay open: its siblings add the other properties.
    members = {
        member["$ref"].rsplit("/", 1)[-1]
        for member in _composition_members(closed)
        if isinstance(member, dict) and str(member.get("$ref", "")).startswith("#/components/schemas/")
    }
    for name, schema in schemas.items():
        _close(schema, is31=is31, member=name in members)
    for schema in _operation_schemas(closed):
        _close(schema, is31=is31, member=False)
    return closed


def _composition_members(node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _COMPOSITIONS and isinstance(value, list):
                found.extend(value)
            found.extend(_composition_members(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_composition_members(value))
    return found


def _close(schema: Any, *, is31: bool, member: bool) -> None:
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    composed = any(key in schema for key in _COMPOSITIONS)
    for key in _COMPOSITIONS:
        for part in schema.get(key) or []:
            _close(part, is31=is31, member=True)
    for sub in (schema.get("properties") or {}).values():
        _close(sub, is31=is31, member=False)
    for key in ("items", "additionalProperties", "not"):
        _close(schema.get(key), is31=is31, member=False)
    if "additionalProperties" in schema or "unevaluatedProperties" in schema or member:
        return
    if composed and is31:
        schema["unevaluatedProperties"] = False
    elif not composed and isinstance(schema.get("properties"), dict):
        schema["additionalProperties"] = False


def _operation_schemas(document: Mapping[str, Any]) -> Iterator[Any]:
    components = document.get("components", {})
    items = [*document.get("paths", {}).values(), *document.get("webhooks", {}).values()]
    operations = [item[m] for item in items for m in _METHODS if m in item]
    for holder in [*operations, *components.get("parameters", {}).values()]:
        yield from (p.get("schema") for p in holder.get("parameters", []) if isinstance(p, dict))
        yield holder.get("schema")
    bodies = [op.get("requestBody") or {} for op in operations] + list(components.get("requestBodies", {}).values())
    responses = [r for op in operations for r in (op.get("responses") or {}).values()]
    for holder in [*bodies, *responses, *components.get("responses", {}).values()]:
        for media in (holder.get("content") or {}).values():
            yield media.get("schema") if isinstance(media, dict) else None
