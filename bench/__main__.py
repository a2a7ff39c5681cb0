"""`python -m bench` (or `bash bench/run`): enrolsync's benchmarks, over loopback HTTP against the fake systems.

Each fake (BambooHR, Moodle) runs in its own process; the engine, the service (API + worker), the naive script,
the replay of the physical limit and the demo each run in another. Every database is private: a SQLite file, or
a PostgreSQL database created and dropped on 127.0.0.1:5432. Prints the issue-19 goals table (a column per
database, the goal, and whether it is met) and the detailed figures; writes the figures as JSON under
bench/results/ and, with `--markdown FILE`, the goals table with date and machine for the README.
Measures; asserts nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import goals, machine, report
from bench.harness import postgres_available
from bench.options import Options, parse
from bench.scenarios import ONE_RUN_ONE_WORKER, Bench, say
from enrolsync.sync.store.crypto import generate_key


def _dbs(opts: Options) -> list[str]:
    usable = []
    for db in opts.dbs:
        problem = postgres_available() if db == "postgresql" else None
        if problem:
            say(f"skipping postgresql: {problem}")
        else:
            usable.append(db)
    return usable


def _keep(results: dict[str, Any], what: str, found: dict[str, Any]) -> dict[str, Any]:
    if "error" in found:
        results.setdefault("errors", []).append(f"{what}: {found['error']}")
    return found


def _sizes(bench: Bench, results: dict[str, Any], dbs: list[str]) -> None:
    opts = bench.opts
    for size in opts.sizes:
        for db in dbs:
            cell: dict[str, Any] = {"db": db, "size": size}
            if opts.scenarios & {1, 2, 3, 5, 7}:
                cell |= _step(results, bench, f"{db} {size}", partial(bench.sync_cell, db, size))
            if 4 in opts.scenarios and size in opts.throttle_sizes:
                cell["throttled"] = {
                    limiter: _step(
                        results, bench, f"{db} {size} throttled", partial(bench.throttled, db, size, limiter)
                    )
                    for limiter in ("budget", "none")
                }
            results["cells"][f"{db}/{size}"] = cell


def _step(results: dict[str, Any], bench: Bench, what: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return _keep(results, what, bench.guarded(what, work))


def run(opts: Options) -> dict[str, Any]:
    results: dict[str, Any] = {"meta": _meta(opts), "cells": {}, "versus": {}, "errors": []}
    dbs = _dbs(opts)
    with tempfile.TemporaryDirectory(prefix="enrolsync-bench-") as tmp:
        bench = Bench(opts=opts, key=generate_key(), workdir=Path(tmp))
        _sizes(bench, results, dbs)
        if 6 in opts.scenarios:
            for ms in opts.latencies:
                results["versus"][f"{ms:g}"] = bench.versus(ms, dbs)
        if 8 in opts.scenarios:
            results["demo"] = _step(results, bench, "demo", bench.demo)
        if 9 in opts.scenarios:
            if "postgresql" in dbs:
                results["workers"] = {
                    str(n): _step(results, bench, f"{n} worker(s)", partial(bench.workers, n)) for n in (1, 2)
                }
                results["workers"]["why"] = ONE_RUN_ONE_WORKER
            else:
                say("scenario 9 needs postgresql; skipped")
    results["meta"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return results


def _meta(opts: Options) -> dict[str, Any]:
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(opts.argv),
        "machine": machine.describe(),
        "options": {
            k: (sorted(v) if isinstance(v, frozenset) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(opts).items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    results = run(opts)
    results["meta"]["wall_s"] = round(time.perf_counter() - started, 1)
    report.write(results, opts.out)
    markdown = goals.markdown(results)
    print(markdown)
    print()
    print(report.table(results))
    if opts.markdown:
        opts.markdown.parent.mkdir(parents=True, exist_ok=True)
        opts.markdown.write_text(markdown + "\n")
    print(f"\nfigures: {opts.out} ({results['meta']['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
