"""The slice of BambooHR's Datasets v2 OData filter the fake understands, with the vendor's refusals.

Documented rules kept: operators `eq ne lt le gt ge` and `in (...)`; one expression uses `and` or `or`, never
both (422 INVALID_FILTER); multi-value `in` only on option (list) fields; string literals in single quotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from enrolsync.connectors.bamboohr.fake.company import FIELDS, OPTION_FIELDS, Row

Predicate = Callable[[Row], bool]
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_]\w*)|(?P<sym>[(),]))")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


class FilterError(Exception):
    """A request the dataset refuses, with the status and problem `code` BambooHR answers."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


def compile_filter(expression: str | None) -> Predicate:
    """A predicate over rows; raises `FilterError` (422 INVALID_FILTER) for what the vendor rejects."""
    if not expression or not expression.strip():
        return lambda row: True
    tokens = _tokens(expression)
    conditions: list[Predicate] = []
    joiners: set[str] = set()
    position = 0
    while True:
        condition, position = _condition(tokens, position)
        conditions.append(condition)
        if position == len(tokens):
            break
        joiner = tokens[position][1].lower()
        if joiner not in ("and", "or"):
            raise _invalid(f"expected and/or, found {tokens[position][1]!r}")
        joiners.add(joiner)
        position += 1
    if len(joiners) > 1:
        raise _invalid("a filter may use 'and' or 'or', not both")
    combine = any if joiners == {"or"} else all
    return lambda row: combine(condition(row) for condition in conditions)


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if match is None or match.lastgroup is None:
            raise _invalid(f"cannot read the filter at character {position}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _condition(tokens: list[tuple[str, str]], position: int) -> tuple[Predicate, int]:
    try:
        (kind, name), (_, operator) = tokens[position], tokens[position + 1]
    except IndexError:
        raise _invalid("incomplete condition") from None
    if kind != "word" or name not in FIELDS:
        raise _invalid(f"unknown filter field {name!r}")
    operator = operator.lower()
    if operator == "in":
        values, position = _list(tokens, position + 2)
        if len(values) > 1 and name not in OPTION_FIELDS:
            raise _invalid(f"multi-value 'in' is only allowed on list fields, not {name!r}")
        return (lambda row: _value(row.get(name)) in values), position
    if operator not in _COMPARE or position + 2 >= len(tokens):
        raise _invalid(f"unsupported operator {operator!r}")
    expected = _literal(tokens[position + 2])
    compare = _COMPARE[operator]

    def check(row: Row) -> bool:
        actual = _value(row.get(name))
        return actual is not None and type(actual) is type(expected) and compare(actual, expected)

    return check, position + 3


def _list(tokens: list[tuple[str, str]], position: int) -> tuple[set[Any], int]:
    if position >= len(tokens) or tokens[position][1] != "(":
        raise _invalid("'in' needs a parenthesised list")
    values: set[Any] = set()
    position += 1
    while position < len(tokens):
        values.add(_literal(tokens[position]))
        separator = tokens[position + 1][1] if position + 1 < len(tokens) else ""
        position += 2
        if separator == ")":
            return values, position
        if separator != ",":
            break
    raise _invalid("unterminated list")


def _literal(token: tuple[str, str]) -> Any:
    kind, text = token
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "num":
        return float(text)
    raise _invalid(f"expected a value, found {text!r}")


def _value(raw: str | None) -> Any:
    """Row text as the filter compares it: numeric text as a number (ids are numbers), the rest as text."""
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


def numeric(raw: str | None) -> float | None:
    """The number row text compares as in a filter, or None where it compares as text (or is empty)."""
    value = _value(raw)
    return value if isinstance(value, float) else None


def _invalid(detail: str) -> FilterError:
    return FilterError(422, "INVALID_FILTER", detail)
