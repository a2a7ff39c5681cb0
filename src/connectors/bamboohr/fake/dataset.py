"""A dataset request as the fake reads it (`POST v2/datasets/employee/data`): fields, filter, order and page, with
BambooHR's refusals as problem details."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from enrolsync.connectors.bamboohr.fake.company import FIELDS, Row
from enrolsync.connectors.bamboohr.fake.odata import FilterError
from enrolsync.connectors.testing.fakes import json_response


@dataclass(frozen=True)
class DatasetQuery:
    fields: list[str]
    where: str | None
    order: list[tuple[str, bool]]
    page: int
    size: int

    @classmethod
    def parse(cls, content: bytes) -> DatasetQuery:
        try:
            body = json.loads(content)
        except ValueError:
            raise FilterError(400, "INVALID_BODY", "The request body is not JSON") from None
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
            raise FilterError(400, "INVALID_FIELDS", "fields must be a non-empty list of field names")
        if unknown := sorted(set(fields) - FIELDS):
            raise FilterError(400, "INVALID_FIELDS", f"Unknown field(s): {', '.join(unknown)}")
        rules = [rule.split() for rule in str(body.get("orderBy") or "").split(",") if rule.strip()]
        order = [(rule[0], rule[-1].lower() == "desc") for rule in rules]
        if any(name not in fields for name, _ in order):
            raise FilterError(400, "UE-1001", "Every orderBy field must also be requested in fields")
        page, size = body.get("page", 1), body.get("pageSize", 100)
        if not (isinstance(page, int) and page >= 1 and isinstance(size, int) and 1 <= size <= 1000):
            raise FilterError(422, "INVALID_PAGINATION", "page must be >= 1 and pageSize between 1 and 1000")
        return cls(fields, body.get("filter"), order, page, size)

    def sort(self, rows: Iterable[Row]) -> list[Row]:
        ordered = sorted(rows, key=lambda row: _sortable(row.get("eeid")))
        for name, descending in reversed(self.order):  # stable sorts, last rule first
            ordered.sort(key=lambda row: _sortable(row.get(name)), reverse=descending)
        return ordered


def _sortable(value: str | None) -> tuple[int, float, str]:
    if value is None:
        return (2, 0.0, "")
    return (0, float(value), "") if value.isdigit() else (1, 0.0, value)


def problem(status: int, code: str, detail: str) -> httpx.Response:
    titles = {400: "Bad Request", 404: "Not Found", 422: "Unprocessable Content"}
    body = {"type": "about:blank", "title": titles.get(status, "Error"), "status": status, "detail": detail}
    return json_response(status, {**body, "code": code})
