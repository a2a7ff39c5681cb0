"""Request and answer plumbing shared by the fake's server and routes: errors, form fields, pages."""

from __future__ import annotations

from typing import Any


class CanvasError(Exception):
    """An answer other than 200: its status and Canvas's JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def not_found() -> CanvasError:
    return CanvasError(404, {"errors": [{"message": "The specified resource does not exist."}]})


class Form:
    """Query and form fields, repeated keys (`state[]`) kept."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, key: str, default: str | None = None) -> str | None:
        found = [v for k, v in self.pairs if k == key]
        return found[-1] if found else default

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    def flag(self, key: str) -> bool:
        return (self.get(key) or "").lower() in ("1", "true", "yes", "on")


class Paged:
    """One page of a list and its `Link` header value."""

    def __init__(self, items: list[Any], link: str) -> None:
        self.items = items
        self.link = link
