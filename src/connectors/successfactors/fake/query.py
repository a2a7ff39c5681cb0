"""Query options as the fake reads them: `$select`/`$expand` shapes, paging integers, effective-dating windows, and
key literals for `__metadata` URIs."""

from __future__ import annotations

from datetime import date
from typing import Any

from enrolsync.connectors.successfactors.fake.company import END_OF_TIME, NAVIGATION, SCHEMA
from enrolsync.connectors.successfactors.fake.odata import ODataError


def key_literal(name: str, value: Any, edm_type: str) -> str:
    if edm_type == "Edm.String":
        return f"{name}='{value}'"
    if edm_type == "Edm.DateTime":
        return f"{name}=datetime'{value.isoformat()}T00:00:00'"
    return f"{name}={value}L" if edm_type == "Edm.Int64" else f"{name}={value}"


def int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise ODataError(400, "COE_GENERAL_BAD_REQUEST", f"[COE0019]{name} must be an integer") from None
    if value < 0:
        raise ODataError(400, "COE_GENERAL_BAD_REQUEST", f"[COE0019]{name} must not be negative")
    return value


def day_param(params: dict[str, str], name: str) -> date | None:
    if name not in params:
        return None
    try:
        return date.fromisoformat(params[name])
    except ValueError:
        raise ODataError(400, "COE_GENERAL_BAD_REQUEST", f"[COE0019]{name} must be yyyy-MM-dd") from None


def window(params: dict[str, str], today: date) -> tuple[date, date]:
    """Effective dating: `fromDate`/`toDate` give every segment overlapping the range, otherwise `asOfDate`
    (default today) gives the one segment in force that day."""
    start, end = day_param(params, "fromDate"), day_param(params, "toDate")
    if start is not None or end is not None:
        return start or date(1900, 1, 1), end or END_OF_TIME
    day = day_param(params, "asOfDate") or today
    return day, day


def shape(entity: str, params: dict[str, str]) -> tuple[set[str] | None, dict[str, set[str] | None]]:
    """Which properties to serve (`$select`, None for all) and which navigations to expand, with their fields."""
    navs = NAVIGATION.get(entity, {})
    expand: dict[str, set[str] | None] = {}
    for name in filter(None, (part.strip() for part in params.get("$expand", "").split(","))):
        if name not in navs:
            raise ODataError(400, "COE_PROPERTY_NOT_FOUND", f"[COE0021]Invalid navigation property: {entity}/{name}")
        expand[name] = None
    raw = params.get("$select")
    if raw is None:
        return None, expand
    select: set[str] = set()
    picked: dict[str, set[str]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        head, _, tail = item.partition("/")
        if tail:
            if head not in expand:
                raise ODataError(400, "COE_GENERAL_BAD_REQUEST", f"[COE0019]{head} is selected but not expanded")
            if tail not in SCHEMA[navs[head][0]]:
                raise ODataError(
                    400, "COE_PROPERTY_NOT_FOUND", f"[COE0021]Invalid property names: {navs[head][0]}/{tail}"
                )
            picked.setdefault(head, set()).add(tail)
        elif head in navs:
            picked.setdefault(head, set())
        elif head in SCHEMA[entity]:
            select.add(head)
        else:
            raise ODataError(400, "COE_PROPERTY_NOT_FOUND", f"[COE0021]Invalid property names: {entity}/{head}")
    return select, {nav: (picked.get(nav) or None) for nav in expand}
