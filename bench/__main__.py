"""`python -m bench` (or `bash bench/run`): enrolsync's benchmarks, over loopback HTTP against the fake systems.

Each fake (BambooHR, Moodle) runs in its own process; the engine runs in another (scenarios 1-4), the service
(API + worker) in another (scenario 5), the naive script in another (scenario 6). Every database is private:
a SQLite file, or a PostgreSQL database created and dropped on 127.0.0.1:5432. Prints a table and writes the
figures as JSON under bench/results/. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import latency, procs, report
from bench.harness import database, postgres_available
from enrolsync.sync.store.crypto import generate_key

RESULTS = Path(__file__).resolve().parent / "results"
ALL_SCENARIOS = frozenset(range(1, 7))
SERVICE_START_SECONDS = 120


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    dbs: list[str]
    scenarios: frozenset[int]
    events: int
    via: str
    budget: float
    throttle_seconds: float
    throttle_sizes: list[int]
    naive_people: int
    rates: str
    lms_latency_ms: float
    latency_sizes: list[int]
    profile: Path | None
    out: Path


def _ints(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="company sizes (people), comma-separated")
    parser.add_argument("--dbs", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--scenarios", default="1,2,3,4,5,6", help="which scenarios (1-3 always run together)")
    parser.add_argument("--events", type=int, default=200, help="scenario 5: events, one at a time")
    parser.add_argument("--via", choices=("auto", "webhook", "api"), default="auto", help="scenario 5 intake")
    parser.add_argument("--budget", type=float, default=20.0, help="scenario 4: LMS requests per second")
    parser.add_argument("--throttle-seconds", type=float, default=15.0, help="scenario 4: how long to measure")
    parser.add_argument("--throttle-sizes", default=None, help="scenario 4 sizes (default: the smallest)")
    parser.add_argument("--naive-people", type=int, default=1000, help="scenario 6: people the script syncs")
    parser.add_argument(
        "--rates",
        choices=("unlimited", "default"),
        default="unlimited",
        help="scenarios 1-3: lift the connectors' default request budgets (unthrottled) or keep them",
    )
    parser.add_argument("--lms-latency-ms", type=float, default=0.0, help="fake Moodle answers this much later")
    parser.add_argument("--latency-sizes", default=None, help="scenario 5 sizes (default: the smallest)")
    parser.add_argument("--profile", type=Path, default=None, help="write pyinstrument reports of 1 and 2 here")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    sizes = _ints(args.sizes)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Options(
        sizes=sizes,
        dbs=[db.strip() for db in args.dbs.split(",") if db.strip()],
        scenarios=frozenset(_ints(args.scenarios)) & ALL_SCENARIOS,
        events=args.events,
        via=args.via,
        budget=args.budget,
        throttle_seconds=args.throttle_seconds,
        throttle_sizes=_ints(args.throttle_sizes) if args.throttle_sizes else sizes[:1],
        naive_people=args.naive_people,
        rates=args.rates,
        lms_latency_ms=args.lms_latency_ms,
        latency_sizes=_ints(args.latency_sizes) if args.latency_sizes else sizes[:1],
        profile=args.profile,
        out=args.out or RESULTS / f"bench-{stamp}.json",
    )


def _say(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _service(stack: ExitStack, url: str, key: str, workdir: Path) -> tuple[str, str | None]:
    """Start the API + worker on `url`; returns its base URL and an admin token (None where the API has none)."""
    data_dir = workdir / f"service-{uuid.uuid4().hex[:8]}"  # the job engine's files, fresh for each service
    data_dir.mkdir()
    command = [sys.executable, "-m", "bench.service_child", "--db", url, "--secret-key", key]
    command += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(command, cwd=procs.ROOT, env=procs.child_env(), stdout=subprocess.PIPE, text=True)
    stack.callback(procs.stop, process)
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if not line or line[0] != "READY":
        raise RuntimeError(f"the service did not start (exit code {process.poll()})")
    return f"http://127.0.0.1:{line[1]}", None if line[2] == "-" else line[2]


def sync_cell(opts: Options, db: str, size: int, key: str, workdir: Path) -> dict[str, Any]:
    """Scenarios 1-3 (and 5, on the database and fakes they leave in sync) for one database and size."""
    cell: dict[str, Any] = {"db": db, "size": size}
    with ExitStack() as stack:
        hr = stack.enter_context(procs.fake("bamboohr", people=size))
        lms = stack.enter_context(procs.fake("moodle", latency_ms=opts.lms_latency_ms))
        url = stack.enter_context(database(db, workdir))
        args = ["sync", "--db", url, "--hr", hr.url, "--lms", lms.url, "--secret-key", key, "--rates", opts.rates]
        if opts.profile:
            args += ["--profile", str(opts.profile / f"{db}-{size}")]
        _say(f"{db} {size:,}: scenarios 1-3 (initial, no-op, incremental)")
        cell["sync"] = procs.run_child("bench.engine_child", args)
        if 5 in opts.scenarios and opts.events and size in opts.latency_sizes:
            _say(f"{db} {size:,}: scenario 5 ({opts.events} events through the service)")
            try:
                cell["latency"] = _latency(opts, stack, cell["sync"], url, key, workdir, hr, lms)
            except Exception as error:  # keep scenarios 1-3's figures
                _say(f"{db} {size:,}: scenario 5 failed: {type(error).__name__}: {error}")
                cell["latency_error"] = f"{type(error).__name__}: {error}"
    return cell


def _latency(
    opts: Options,
    stack: ExitStack,
    synced: dict[str, Any],
    url: str,
    key: str,
    workdir: Path,
    hr: procs.FakeProcess,
    lms: procs.FakeProcess,
) -> dict[str, Any]:
    api_url, token = _service(stack, url, key, workdir)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as api:
        service = latency.Service(api, synced["pipeline_id"], synced["source_id"])
        return latency.measure(service, hr, lms, events=opts.events, via=opts.via)


def throttled(opts: Options, db: str, size: int, key: str, workdir: Path, limiter: str) -> dict[str, Any]:
    """Scenario 4: an initial sync against a Moodle that answers 429 beyond `budget` requests per second."""
    with ExitStack() as stack:
        hr = stack.enter_context(procs.fake("bamboohr", people=size))
        lms = stack.enter_context(procs.fake("moodle", latency_ms=opts.lms_latency_ms))
        url = stack.enter_context(database(db, workdir))
        _say(f"{db} {size:,}: scenario 4 (budget {opts.budget:g}/s, engine limiter: {limiter})")
        args = ["throttled", "--db", url, "--hr", hr.url, "--lms", lms.url, "--secret-key", key]
        args += ["--budget", str(opts.budget), "--limiter", limiter, "--seconds", str(opts.throttle_seconds)]
        return procs.run_child("bench.engine_child", args)


def naive(opts: Options, size: int) -> dict[str, Any]:
    with procs.fake("bamboohr", people=size) as hr, procs.fake("moodle", latency_ms=opts.lms_latency_ms) as lms:
        _say(f"{size:,}: scenario 6 (naive script, {min(size, opts.naive_people):,} people)")
        args = ["--hr", hr.url, "--lms", lms.url, "--people", str(opts.naive_people)]
        return procs.run_child("bench.naive", args)


def _dbs(opts: Options) -> list[str]:
    usable = []
    for db in opts.dbs:
        problem = postgres_available() if db == "postgresql" else None
        if problem:
            _say(f"skipping postgresql: {problem}")
        else:
            usable.append(db)
    return usable


def _guarded(results: dict[str, Any], what: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement; a failure is recorded and reported, and the other measurements go on."""
    try:
        return work()
    except Exception as error:  # one broken scenario must not lose the others' figures
        _say(f"{what} failed: {type(error).__name__}: {error}")
        results.setdefault("errors", []).append(f"{what}: {type(error).__name__}: {error}")
        return {}


def _one_size(results: dict[str, Any], opts: Options, size: int, key: str, workdir: Path) -> None:
    if 6 in opts.scenarios:
        results["naive"][str(size)] = _guarded(results, f"naive {size}", partial(naive, opts, size))
    for db in _dbs(opts):
        cell: dict[str, Any] = {}
        if opts.scenarios & {1, 2, 3, 5}:
            cell = _guarded(results, f"{db} {size}", partial(sync_cell, opts, db, size, key, workdir))
        cell |= {"db": db, "size": size}
        if 4 in opts.scenarios and size in opts.throttle_sizes:
            cell["throttled"] = {
                limiter: _guarded(
                    results, f"{db} {size} throttled", partial(throttled, opts, db, size, key, workdir, limiter)
                )
                for limiter in ("budget", "none")
            }
        results["cells"][f"{db}/{size}"] = cell


def run(opts: Options) -> dict[str, Any]:
    key = generate_key()
    results: dict[str, Any] = {"meta": _meta(opts), "cells": {}, "naive": {}}
    with tempfile.TemporaryDirectory(prefix="enrolsync-bench-") as tmp:
        for size in opts.sizes:
            _one_size(results, opts, size, key, Path(tmp))
    results["meta"]["load_average_end"] = os.getloadavg()
    return results


def _meta(opts: Options) -> dict[str, Any]:
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": _cpus(),
        "load_average_start": os.getloadavg(),  # other work on the machine stretches wall times
        "options": {k: (str(v) if isinstance(v, Path | frozenset) else v) for k, v in vars(opts).items()},
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    started = time.perf_counter()
    results = run(opts)
    results["meta"]["wall_s"] = round(time.perf_counter() - started, 1)
    report.write(results, opts.out)
    print(report.table(results))
    print(f"\nfigures: {opts.out} ({results['meta']['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
