"""The OData v2 query language as far as the fake answers it: `$filter` expressions, JSON values, errors.

`$filter` grammar served: `or`/`and` of comparisons `prop eq|ne|gt|ge|lt|le literal`, SuccessFactors' `prop in
literal, literal...` (https://help.sap.com/docs/SAP_SUCCESSFACTORS_PLATFORM/d599f15995d348a1b45ba5603e2aba9b, "in"
operator) and parentheses; literals are `'text'` (quotes doubled), `datetime'2024-01-01T00:00:00'`,
`datetimeoffset'2024-01-01T00:00:00Z'`, integers, `true`/`false` and `null`. Anything else is the 400 SF answers.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx

from enrolsync.connectors.testing.fakes import json_response

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<typed>datetimeoffset|datetime)'(?P<stamp>[^']*)'"
    r"|'(?P<text>(?:[^']|'')*)'|(?P<number>-?\d+)(?![\w.])|(?P<word>[A-Za-z_][\w/]*))"
)
Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    # null compares as neither greater nor smaller, as in OData
    "gt": lambda a, b: a is not None and b is not None and bool(a > b),
    "ge": lambda a, b: a is not None and b is not None and bool(a >= b),
    "lt": lambda a, b: a is not None and b is not None and bool(a < b),
    "le": lambda a, b: a is not None and b is not None and bool(a <= b),
}


class ODataError(Exception):
    """An answer SuccessFactors gives in its error JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, headers: dict[str, str] | None = None) -> httpx.Response:
        return error_response(self.status, self.code, self.message, headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    return json_response(status, body, headers)


def _bad(message: str) -> ODataError:
    return ODataError(400, "COE_GENERAL_BAD_REQUEST", message)


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    at = 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if match is None:
            raise _bad(f"[COE0019]Syntax error in $filter at position {at}")
        at = match.end()
        if match["open"]:
            out.append(("(", None))
        elif match["close"]:
            out.append((")", None))
        elif match["comma"]:
            out.append((",", None))
        elif match["typed"]:
            out.append(("value", _stamp(match["typed"], match["stamp"])))
        elif match["text"] is not None:
            out.append(("value", match["text"].replace("''", "'")))
        elif match["number"]:
            out.append(("value", int(match["number"])))
        else:
            word = match["word"]
            literal = {"true": True, "false": False, "null": None}
            out.append(("value", literal[word]) if word in literal else ("word", word))
    return out


def _stamp(kind: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"[COE0019]Invalid {kind} literal '{text}'") from None
    if kind == "datetimeoffset" and value.tzinfo is None:
        raise _bad(f"[COE0019]datetimeoffset literal '{text}' has no offset")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], properties: Mapping[str, str]) -> None:
        self.tokens, self.at, self.properties = tokens, 0, properties

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise _bad("[COE0019]Unexpected end of $filter")
        self.at += 1
        return token

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.conjunction())
        return lambda row: any(part(row) for part in parts)

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.term())
        return lambda row: all(part(row) for part in parts)

    def term(self) -> Predicate:
        kind, value = self.take()
        if kind == "(":
            inner = self.expression()
            if self.take()[0] != ")":
                raise _bad("[COE0019]Missing ) in $filter")
            return inner
        if kind != "word":
            raise _bad("[COE0019]A comparison must start with a property name")
        if value not in self.properties:
            raise ODataError(400, "COE_PROPERTY_NOT_FOUND", f"[COE0021]Invalid property names: {value}")
        name, (kind, op) = value, self.take()
        if op == "in":
            values = [self.literal()]
            while self.peek() == (",", None):
                self.take()
                values.append(self.literal())
            return lambda row: row.get(name) in values
        if kind != "word" or op not in _COMPARE:
            raise _bad(f"[COE0019]Unsupported operator {op!r} in $filter")
        literal, compare = self.literal(), _COMPARE[op]
        return lambda row: bool(compare(_comparable(row.get(name), literal), literal))

    def literal(self) -> Any:
        kind, value = self.take()
        if kind != "value":
            raise _bad("[COE0019]Expected a literal in $filter")
        return value


def _comparable(value: Any, literal: Any) -> Any:
    """A date compared with a datetime literal compares as its midnight (UTC), as EC's `Edm.DateTime` does."""
    if isinstance(literal, datetime) and isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def parse_filter(text: str | None, properties: Mapping[str, str]) -> Predicate:
    """A predicate over rows from a `$filter` text (everything passes without one). Raises `ODataError`."""
    if not text or not text.strip():
        return lambda row: True
    parser = _Parser(_tokens(text), properties)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise _bad("[COE0019]Unexpected text after the $filter expression")
    return predicate


def names_in_filter(text: str | None) -> set[str]:
    """The property names a `$filter` text compares (for the EDMX check of what the connector asks)."""
    if not text:
        return set()
    keywords = {"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in"}
    return {value for kind, value in _tokens(text) if kind == "word" and value not in keywords}


def edm_json(value: Any, edm_type: str) -> Any:
    """A value as OData v2 JSON writes it: `/Date(ms)/` for `Edm.DateTime`, `/Date(ms+0000)/` for
    `Edm.DateTimeOffset`, 64-bit integers as strings."""
    if value is None:
        return None
    if edm_type == "Edm.DateTime":
        moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)
        return f"/Date({int(moment.timestamp() * 1000)})/"
    if edm_type == "Edm.DateTimeOffset":
        return f"/Date({int(value.timestamp() * 1000)}+0000)/"
    if edm_type in ("Edm.Int64", "Edm.Decimal"):
        return str(value)
    return value


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()
