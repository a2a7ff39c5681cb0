"""The figures as a table (one column per database and size, a column of targets) and as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cell = dict[str, Any]
Row = tuple[str, Callable[[Cell, dict[str, Any]], Any], str]


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pair(first: Any, second: Any, sep: str = " / ") -> str:
    return "-" if first is None and second is None else f"{_fmt(first)}{sep}{_fmt(second)}"


def _share(cell: Cell, variant: str) -> str:
    run = _get(cell, "throttled", variant)
    if run is None:
        return "-"
    return f"{run['budget_used'] * 100:.0f}% / {run['lms_429']} / {run['ops_failed']}"


def _burst(cell: Cell) -> str:
    found = cell.get("burst")
    if not found or found.get("p50_s") is None:
        return "-"
    missing = f", {found['missing']} missing" if found.get("missing") else ""
    return f"{_fmt(found['p50_s'])} / {_fmt(found['p95_s'])} / {_fmt(found['p99_s'])}{missing}"


def _limit(cell: Cell) -> str:
    found = cell.get("limit")
    if not found or found.get("wall_s") is None:
        return "-"
    return f"{_fmt(found['wall_s'])} s, {found['write_requests']:,} writes, {found['errors']} refused"


def _phases(cell: Cell, scenario: str) -> str:
    found = _get(cell, "sync", scenario, "phases_s")
    return "-" if not found else " / ".join(_fmt(found.get(p)) for p in ("read", "plan", "apply"))


def _sync(*path: str) -> Callable[[Cell, dict[str, Any]], Any]:
    return lambda cell, _: _get(cell, "sync", *path)


def _both(first: tuple[str, ...], second: tuple[str, ...]) -> Callable[[Cell, dict[str, Any]], Any]:
    return lambda cell, _: _pair(_get(cell, "sync", *first), _get(cell, "sync", *second))


def _ops_total(cell: Cell) -> Any:
    ops = _get(cell, "sync", "initial", "ops")
    return _pair(sum(ops.values()) if ops else None, _get(cell, "sync", "initial", "ops_failed"))


ROWS: list[Row] = [
    ("1 initial sync: wall s", _sync("initial", "wall_s"), "10k < 15 s"),
    ("1 initial sync: read / plan / apply s", lambda c, _: _phases(c, "initial"), ""),
    ("1 initial sync: CPU s engine / fakes", _both(("initial", "engine_cpu_s"), ("initial", "fakes_cpu_s")), ""),
    ("1 initial sync: people/s", _sync("initial", "people_per_s"), ""),
    ("1 initial sync: HTTP requests/person", _sync("initial", "requests_per_person"), ""),
    ("1 initial sync: LMS requests / writes", _both(("initial", "lms_requests"), ("initial", "lms_writes")), ""),
    ("1 initial sync: ops applied / failed", lambda c, _: _ops_total(c), "CPU < 0.25 ms/op"),
    ("1 initial sync: engine peak RSS MB", _sync("initial", "peak_rss_mb"), "< 300, flat 10k->100k"),
    ("2 no-op re-sync: wall s", _sync("noop", "wall_s"), ""),
    ("2 no-op re-sync: read / plan / apply s", lambda c, _: _phases(c, "noop"), "100k planning < 5 s"),
    ("2 no-op re-sync: CPU s engine / fakes", _both(("noop", "engine_cpu_s"), ("noop", "fakes_cpu_s")), ""),
    ("2 no-op re-sync: LMS writes / ops", _both(("noop", "lms_writes"), ("noop", "ops_planned")), "0"),
    ("3 incremental (1% moved): people", _sync("incremental", "people_changed"), ""),
    ("3 incremental: wall s", _sync("incremental", "wall_s"), ""),
    ("3 incremental: LMS writes / ops", _both(("incremental", "lms_writes"), ("incremental", "ops_planned")), ""),
    ("4 throttled, limiter = budget: used / 429s / failed ops", lambda c, _: _share(c, "budget"), ">= 90%, no storm"),
    ("4 throttled, no limiter (429s only): used / 429s / failed", lambda c, _: _share(c, "none"), ">= 90%, no storm"),
    ("5 webhook burst -> enrolment p50 / p95 / p99 s", lambda c, _: _burst(c), "p95 < 2 s"),
    ("7 physical limit: replayed writes, wall", lambda c, _: _limit(c), "engine within 2x"),
]


def table(results: dict[str, Any]) -> str:
    """Every figure of scenarios 1-5 and 7, one column per database and size (the goals table summarises)."""
    cells: list[Cell] = list(results["cells"].values())
    naive: dict[str, Any] = {}
    header = ["scenario: figure", *(f"{c['db']} {c['size']:,}" for c in cells), "target"]
    lines = [[name, *(_fmt(get(c, naive)) for c in cells), target] for name, get, target in ROWS]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        return " | ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(row) for row in lines)])


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
