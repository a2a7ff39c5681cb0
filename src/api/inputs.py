"""Text the databases cannot store is refused at the door with a 422 naming the field.

PostgreSQL rejects NUL characters in text, and a JSON string may carry an unpaired UTF-16 surrogate (`"\\ud800"`),
which no UTF-8 column can hold; either would otherwise surface as a 500 from deep inside a query. The check
runs for every route, over path and query parameters and every string (keys too) of a JSON body, so free-form
documents (connection configs, pipeline specs) are covered as well as the typed fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from enrolsync.api.problems import FieldProblem, format_loc, invalid

_MESSAGE = "contains a character that cannot be stored (NUL or an unpaired surrogate)"


def storable(text: str) -> bool:
    """True when `text` has no NUL and encodes as UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_strings(value: Any, loc: tuple[int | str, ...]) -> Iterator[tuple[int | str, ...]]:
    if isinstance(value, str):
        if not storable(value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not storable(key):
                yield (*loc, "(key)")
            else:
                yield from _bad_strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, (*loc, index))


async def _body(request: Request) -> Any:
    if "json" not in request.headers.get("content-type", ""):
        return None
    raw = await request.body()  # FastAPI has read it already; Starlette caches it
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None  # FastAPI answers malformed JSON itself


async def refuse_unstorable_text(request: Request) -> None:
    """Dependency: 422 when a path or query parameter or a JSON body string cannot be stored."""
    bad: list[tuple[int | str, ...]] = []
    for name, value in request.path_params.items():
        bad += _bad_strings(value, ("path", name))
    for name, value in request.query_params.multi_items():
        bad += _bad_strings(value, ("query", name))
    bad += _bad_strings(await _body(request), ())
    if bad:
        problems = [FieldProblem(path=format_loc(loc) or "(body)", message=_MESSAGE, type="unstorable") for loc in bad]
        raise invalid(problems, "; ".join(f"{p.path}: {p.message}" for p in problems))
