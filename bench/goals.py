"""Issue 19's goals against the figures: one row per figure, a column per database, the goal and the verdict.

Pure functions over the results dict (the JSON under bench/results/), unit-tested. A goal stated for 10,000
people is scaled linearly to the size measured when 10,000 was not (say so in the goal cell), so a quick run
still gets a verdict; the README's figures come from a run at the stated sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench import machine

DB_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
HEADLINE = 10_000  # the size the issue states its goals at
FLAT_GROWTH = 1.25  # "flat": the largest size's peak memory within 25% of the smallest's
NAIVE_GOALS = {0.0: 3.0, 20.0: 20.0}  # LMS latency (ms) -> how many times the naive script's speed


@dataclass(frozen=True)
class Verdict:
    met: bool | None  # None: not measured, or no goal
    text: str


NOT_MEASURED = Verdict(None, "not measured")


def at_most(value: float | None, limit: float) -> Verdict:
    """Met when `value` is at most `limit`; a miss says how many times the goal it is."""
    if value is None:
        return NOT_MEASURED
    if value <= limit:
        return Verdict(True, "met")
    return Verdict(False, f"missed: {value / limit:.1f}x the goal")


def at_least(value: float | None, floor: float) -> Verdict:
    """Met when `value` is at least `floor`; a miss says what share of the goal it reached."""
    if value is None:
        return NOT_MEASURED
    if value >= floor:
        return Verdict(True, "met")
    return Verdict(False, f"missed: {value / floor:.0%} of the goal")


def both(first: Verdict, second: Verdict) -> Verdict:
    """Met only when both are; the first miss explains."""
    for verdict in (first, second):
        if verdict.met is False:
            return verdict
    if first.met is None or second.met is None:
        return first if first.met is None else second
    return first


@dataclass
class Row:
    figure: str
    goal: str
    values: dict[str, str] = field(default_factory=dict)  # db -> the figure as text
    verdicts: dict[str, Verdict] = field(default_factory=dict)


def get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in results.get("cells", {}).values() if isinstance(cell, dict)]


def databases(results: dict[str, Any]) -> list[str]:
    seen = {cell["db"] for cell in _cells(results)}
    for versus in results.get("versus", {}).values():
        seen |= set(versus.get("engine", {}))
    return [db for db in DB_TITLES if db in seen] or ["sqlite"]


def sizes(results: dict[str, Any]) -> list[int]:
    return sorted({cell["size"] for cell in _cells(results) if get(cell, "sync", "initial", "wall_s") is not None})


def headline(results: dict[str, Any]) -> int | None:
    measured = sizes(results)
    return HEADLINE if HEADLINE in measured else (measured[-1] if measured else None)


def cell(results: dict[str, Any], db: str, size: int | None) -> dict[str, Any]:
    found: dict[str, Any] = results.get("cells", {}).get(f"{db}/{size}", {})
    return found


def _scaled(goal_s: float, size: int) -> tuple[float, str]:
    """The goal for 10k people at `size` (linear), and how the goal cell says it."""
    if size == HEADLINE:
        return goal_s, f"under {goal_s:g} s"
    limit = goal_s * size / HEADLINE
    return limit, f"under {limit:.3g} s at {size:,} ({goal_s:g} s per 10k)"


def initial_wall(results: dict[str, Any], dbs: list[str]) -> Row:
    size = headline(results) or HEADLINE
    limit, goal = _scaled(15.0, size)
    row = Row(f"{size:,} initial sync, wall", goal)
    for db in dbs:
        initial = get(cell(results, db, size), "sync", "initial") or {}
        phases = initial.get("phases_s") or {}
        split = " / ".join(num(phases.get(p)) for p in ("read", "plan", "apply"))
        wall = initial.get("wall_s")
        row.values[db] = "-" if wall is None else f"{num(wall)} s (read / plan / apply {split})"
        row.verdicts[db] = at_most(wall, limit)
    return row


def cpu_per_op(results: dict[str, Any], dbs: list[str]) -> Row:
    size = headline(results) or HEADLINE
    row = Row("engine CPU for it", "under 0.25 ms per op")
    for db in dbs:
        initial = get(cell(results, db, size), "sync", "initial") or {}
        cpu, ops, fakes = initial.get("engine_cpu_s"), initial.get("ops_total"), initial.get("fakes_cpu_s")
        per_op = cpu * 1000 / ops if cpu is not None and ops else None
        row.values[db] = (
            "-"
            if per_op is None
            else (f"{num(cpu)} s for {ops:,} ops ({num(per_op, 2)} ms per op); the fakes used {num(fakes)} s")
        )
        row.verdicts[db] = at_most(per_op, 0.25)
    return row


def physical_limit(results: dict[str, Any], dbs: list[str]) -> Row:
    size = headline(results) or HEADLINE
    row = Row(f"{size:,} initial sync against the physical limit", "within 2x")
    for db in dbs:
        found = cell(results, db, size)
        wall, limit = get(found, "sync", "initial", "wall_s"), get(found, "limit", "wall_s")
        ratio = wall / limit if wall is not None and limit else None
        apply_s = get(found, "sync", "initial", "phases_s", "apply")
        apply_ratio = f", apply alone {apply_s / limit:.1f}x" if apply_s is not None and limit else ""
        writes, fake_cpu = get(found, "limit", "write_requests"), get(found, "limit", "fake_cpu_s")
        cpu = f" (its CPU {num(fake_cpu, 2)} s)" if fake_cpu is not None else ""
        row.values[db] = (
            "-"
            if ratio is None
            else (
                f"{ratio:.1f}x: {num(wall)} s vs {num(limit, 2)} s for the fake to serve its {writes:,} write "
                f"requests alone{cpu}{apply_ratio}"
            )
        )
        row.verdicts[db] = at_most(ratio, 2.0)
    return row


def versus_naive(results: dict[str, Any], dbs: list[str]) -> list[Row]:
    rows = []
    for key, versus in sorted(results.get("versus", {}).items(), key=lambda item: float(item[0])):
        ms = float(key)
        goal = NAIVE_GOALS.get(ms)
        row = Row(f"engine vs the naive script, {ms:g} ms LMS latency", f"at least {goal:g}x" if goal else "-")
        naive = get(versus, "naive", "people_per_s")
        for db in dbs:
            engine = get(versus, "engine", db, "people_per_s")
            ratio = engine / naive if engine and naive else None
            row.values[db] = "-" if ratio is None else f"{ratio:.2f}x ({num(engine)} vs {num(naive)} people/s)"
            row.verdicts[db] = at_least(ratio, goal) if goal else Verdict(None, "-")
        rows.append(row)
    return rows


def noop(results: dict[str, Any], dbs: list[str]) -> Row:
    size = headline(results) or HEADLINE
    limit, goal = _scaled(1.0, size)
    row = Row(f"{size:,} no-op re-sync", f"plan {goal}, 0 writes")
    for db in dbs:
        found = get(cell(results, db, size), "sync", "noop") or {}
        plan, writes = get(found, "phases_s", "plan"), found.get("lms_writes")
        row.values[db] = "-" if not found else f"{num(found.get('wall_s'))} s (plan {num(plan, 2)} s), {writes} writes"
        writes_ok = (
            Verdict(None, "not measured")
            if writes is None
            else (Verdict(True, "met") if writes == 0 else Verdict(False, f"missed: {writes} writes"))
        )
        row.verdicts[db] = both(at_most(plan, limit), writes_ok)
    return row


def noop_100k(results: dict[str, Any], dbs: list[str]) -> Row:
    row = Row("100k no-op planning", "under 5 s")
    for db in dbs:
        plan = get(cell(results, db, 100_000), "sync", "noop", "phases_s", "plan")
        row.values[db] = "-" if plan is None else f"{num(plan)} s"
        row.verdicts[db] = at_most(plan, 5.0) if plan is not None else Verdict(None, "not measured (--sizes 100000)")
    return row


def _peak(found: dict[str, Any]) -> float | None:
    peaks = [get(found, "sync", step, "peak_rss_mb") for step in ("initial", "noop", "incremental")]
    measured = [p for p in peaks if p is not None]
    return max(measured) if measured else None


def peak_rss(results: dict[str, Any], dbs: list[str]) -> Row:
    row = Row("engine peak RSS by size", f"under 300 MB, flat (largest within {FLAT_GROWTH:.2f}x of smallest)")
    for db in dbs:
        found = {size: _peak(cell(results, db, size)) for size in sizes(results)}
        peaks: dict[int, float] = {size: peak for size, peak in found.items() if peak is not None}
        row.values[db] = "; ".join(f"{size:,}: {peak:.0f} MB" for size, peak in peaks.items()) or "-"
        if not peaks:
            row.verdicts[db] = NOT_MEASURED
            continue
        ceiling = at_most(max(peaks.values()), 300.0)
        if len(peaks) < 2:
            row.verdicts[db] = both(ceiling, Verdict(None, f"{ceiling.text}; flatness needs two sizes"))
            continue
        growth = peaks[max(peaks)] / peaks[min(peaks)]
        flat = Verdict(True, "met") if growth <= FLAT_GROWTH else Verdict(False, f"missed: grows {growth:.1f}x")
        row.verdicts[db] = both(ceiling, flat)
    return row


def linearity(results: dict[str, Any], dbs: list[str]) -> Row:
    row = Row("initial sync, ms per person by size", "linear: 100k under 150 s")
    for db in dbs:
        walls = {s: get(cell(results, db, s), "sync", "initial", "wall_s") for s in sizes(results)}
        walls = {s: w for s, w in walls.items() if w is not None}
        row.values[db] = "; ".join(f"{s:,}: {w * 1000 / s:.2f}" for s, w in walls.items()) or "-"
        if 100_000 in walls:
            row.verdicts[db] = at_most(walls[100_000], 150.0)
        elif walls:
            largest = max(walls)
            guess = at_most(walls[largest] / largest * 100_000, 150.0)
            row.verdicts[db] = Verdict(guess.met, f"{guess.text} (extrapolated from {largest:,})")
        else:
            row.verdicts[db] = NOT_MEASURED
    return row


def demo(results: dict[str, Any], dbs: list[str]) -> Row:
    found = results.get("demo") or {}
    people = found.get("people", 5000)
    row = Row(f"`enrolsync demo --people {people}` (SQLite)", "under 30 s at 5,000 people")
    wall = found.get("wall_s")
    if found.get("timed_out_after_s"):
        text, verdict = f"timed out after {found['timed_out_after_s']:g} s", Verdict(False, "missed: timed out")
    elif wall is None:
        text, verdict = "-", NOT_MEASURED
    else:
        first = get(found, "runs", "first sync", "seconds")
        text = f"{num(wall)} s" + (f" (its first sync {num(first)} s)" if first is not None else "")
        text += "" if found.get("exit_code") == 0 else f", exit code {found.get('exit_code')}"
        verdict = at_most(wall, 30.0) if people == 5000 else Verdict(None, "goal is for 5,000 people")
    row.values[dbs[0]] = text
    row.verdicts[dbs[0]] = verdict
    return row


def burst(results: dict[str, Any], dbs: list[str]) -> Row:
    row = Row("webhook burst: call to applied enrolment, p50 / p95 / p99", "p95 under 2 s")
    for db in dbs:
        found = next((get(c, "burst") for c in _cells(results) if c["db"] == db and get(c, "burst", "count")), None)
        if not found:
            row.values[db], row.verdicts[db] = "-", NOT_MEASURED
            continue
        missing = f", {found['missing']} never applied" if found.get("missing") else ""
        refused = {code: n for code, n in (found.get("statuses") or {}).items() if not code.startswith("2")}
        missing += "".join(f", {n} answered {code}" for code, n in sorted(refused.items()))
        row.values[db] = (
            f"{num(found['p50_s'], 2)} / {num(found['p95_s'], 2)} / {num(found['p99_s'], 2)} s "
            f"({found['events']} calls, {found['concurrency']} at once{missing})"
        )
        complete = Verdict(True, "met") if not found.get("missing") else Verdict(False, "missed: calls never applied")
        row.verdicts[db] = both(at_most(found["p95_s"], 2.0), complete)
    return row


def workers(results: dict[str, Any], dbs: list[str]) -> Row:
    found = results.get("workers") or {}
    one, two = get(found, "1", "wall_s"), get(found, "2", "wall_s")
    size = get(found, "1", "people") or get(found, "2", "people")
    row = Row(f"2 workers beside 1, {size or '-'} people initial sync (PostgreSQL)", "- (see note)")
    if "postgresql" in dbs:
        cpu = get(found, "2", "cpu_s_per_process") or []
        second = f"; CPU of the two worker processes {' / '.join(num(c) for c in cpu)} s" if len(cpu) > 1 else ""
        text = "-" if one is None or two is None else f"1: {num(one)} s, 2: {num(two)} s ({one / two:.2f}x){second}"
        row.values["postgresql"] = text
        row.verdicts["postgresql"] = Verdict(None, "-")
    return row


BUILDERS: list[Callable[[dict[str, Any], list[str]], Row | list[Row]]] = [
    initial_wall,
    cpu_per_op,
    physical_limit,
    versus_naive,
    noop,
    noop_100k,
    peak_rss,
    linearity,
    demo,
    burst,
    workers,
]


def rows(results: dict[str, Any]) -> list[Row]:
    dbs = databases(results)
    made: list[Row] = []
    for build in BUILDERS:
        found = build(results, dbs)
        made.extend(found if isinstance(found, list) else [found])
    return made


def verdict_text(row: Row, dbs: Iterable[str]) -> str:
    """One verdict when the databases agree, else one per database."""
    verdicts = [(db, row.verdicts.get(db, Verdict(None, "-"))) for db in dbs if db in row.values]
    texts = {v.text for _, v in verdicts}
    if len(texts) <= 1:
        return texts.pop() if texts else "-"
    return "; ".join(f"{DB_TITLES[db]}: {v.text}" for db, v in verdicts)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table(results: dict[str, Any]) -> str:
    """The goals as a Markdown table: figure, one column per database, goal, met."""
    dbs = databases(results)
    lines = [
        "| figure | " + " | ".join(DB_TITLES[db] for db in dbs) + " | goal | met |",
        "| --- | " + " | ".join("---" for _ in dbs) + " | --- | --- |",
    ]
    for row in rows(results):
        values = [_escape(row.values.get(db, "-")) for db in dbs]
        lines.append(
            f"| {_escape(row.figure)} | "
            + " | ".join(values)
            + f" | {_escape(row.goal)} | {_escape(verdict_text(row, dbs))} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The table with the date, machine and command above it and the notes below it, ready for the README."""
    meta = results.get("meta", {})
    when = str(meta.get("started_at", "?"))[:10]
    found = meta.get("machine", {})
    load = found.get("load_average_start")
    header = (
        f"Measured {when} on {machine.one_line(found)} (load average {load[0]:.2f} at the start)"
        if load
        else f"Measured {when} on {machine.one_line(found)}"
    )
    notes = [
        f"{header}, with `{meta.get('command', 'python -m bench')}`"
        + (f" ({meta['wall_s']:,.0f} s in all)." if meta.get("wall_s") else ".")
    ]
    why = get(results, "workers", "why")
    if why:
        notes.append(f"A second worker and one pipeline: {why.rstrip('.')}.")
    for error in results.get("errors", []):
        notes.append(f"Not measured: {error}.")
    return "\n\n".join([notes[0], table(results), *notes[1:]])
