"""The engine side of scenarios 1-4, in a process of its own so its peak memory is its own.

    python -m bench.engine_child sync --db URL --hr URL --lms URL --secret-key KEY
    python -m bench.engine_child throttled --db URL --hr URL --lms URL --secret-key KEY --budget 20 --limiter budget
    python -m bench.engine_child setup --db URL --hr URL --lms URL --secret-key KEY

`sync` runs the initial full sync, a no-op re-sync and an incremental sync after 1% of people moved department
(`--steps` picks which; the initial sync always runs, the others need it), and with `--record FILE` has the fake
LMS write down each write request of the initial sync (the physical-limit scenario replays them);
`throttled` runs an initial sync against a throttled LMS for a while, then stops it; `setup` only migrates the
database and creates the pipeline (the service then runs it). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    UNLIMITED,
    Bench,
    PhaseClock,
    connection_configs,
    cpu_seconds,
    current_rss_mb,
    peak_rss_mb,
    pipeline_spec,
)
from enrolsync.connectors.base import Rate
from enrolsync.logs import configure_logging
from enrolsync.sync.jobs.run_requests import Scope
from enrolsync.sync.store import ledger


async def control(base_url: str, name: str, **body: Any) -> Any:
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.post(f"{base_url}/_bench/{name}", json=body)
        response.raise_for_status()
        return response.json()["result"]


async def _stats(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    return await control(args.hr, "stats"), await control(args.lms, "stats")


async def _reset(args: argparse.Namespace) -> None:
    await control(args.hr, "reset")
    await control(args.lms, "reset")


phases = PhaseClock()


async def measure(bench: Bench, args: argparse.Namespace, scope: Scope) -> dict[str, Any]:
    """Run one sync of `scope` and what it cost: time per step, requests per system, writes, ops, memory."""
    await _reset(args)
    rss_before = current_rss_mb()
    run_id = await bench.request(scope)
    phases.take()
    started, cpu = time.perf_counter(), cpu_seconds()
    outcome = await bench.execute(run_id)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    run = await bench.run(run_id)
    hr, lms = await _stats(args)
    ops: dict[str, dict[str, int]] = run.counters.get("ops", {})
    people = run.people_read
    return {
        "status": run.status,
        "outcome": outcome,
        "error": run.error,
        "wall_s": round(wall, 3),
        "phases_s": phases.take(),
        "engine_cpu_s": round(cpu, 3),
        "fakes_cpu_s": round(hr["cpu_seconds"] + lms["cpu_seconds"], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "people_read": people,
        "people_per_s": round(people / wall, 1) if wall else None,
        "hr_requests": hr["accepted"],
        "lms_requests": lms["accepted"],
        "lms_writes": lms["writes"],
        "lms_calls": lms.get("calls", {}),
        "lms_items": lms.get("items", {}),  # records the fake Moodle returned, by function
        "requests_per_person": round((hr["accepted"] + lms["accepted"]) / people, 3) if people else None,
        "ops_planned": run.ops_planned,
        "ops": {kind: sum(by.values()) for kind, by in sorted(ops.items())},
        "ops_total": sum(sum(by.values()) for by in ops.values()),
        "ops_failed": sum(by.get("failed", 0) + by.get("not_attempted", 0) for by in ops.values()),
        "people_counters": run.counters.get("people", {}),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def _open(args: argparse.Namespace, rates: dict[str, Rate | None]) -> Bench:
    bench = await Bench.open(args.db, args.secret_key, rates=rates)
    info = await control(args.lms, "info")
    configs = connection_configs(args.hr, args.lms, info["role_ids"])
    await bench.add_pipeline(configs, pipeline_spec(info["course_ids"]))
    return bench


async def sync(args: argparse.Namespace) -> dict[str, Any]:
    bench = await _open(args, UNLIMITED if args.rates == "unlimited" else {})
    try:
        out: dict[str, Any] = {"pipeline_id": bench.pipeline_id, "source_id": bench.source_id}
        if args.record:
            await control(args.lms, "record", path=str(args.record))
        with profiled(args.profile, "initial"):
            out["initial"] = await measure(bench, args, "full")
        if args.record:
            await control(args.lms, "record")  # stop: only the initial sync's writes are replayed
        out["initial"]["lms_counts"] = await control(args.lms, "counts")
        if "noop" in args.steps:
            with profiled(args.profile, "noop"):
                out["noop"] = await measure(bench, args, "full")
        if "incremental" in args.steps:
            moved = await control(args.hr, "move_some", fraction=args.changed, seed=11)
            out["incremental"] = await measure(bench, args, "incremental")
            out["incremental"]["people_changed"] = len(moved)
        return out
    finally:
        await bench.close()


async def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Migrate the database and create the two connections and the pipeline; the service runs it."""
    bench = await _open(args, UNLIMITED)
    try:
        return {"pipeline_id": bench.pipeline_id, "source_id": bench.source_id}
    finally:
        await bench.close()


async def throttled(args: argparse.Namespace) -> dict[str, Any]:
    """An initial sync against an LMS that allows `budget` requests/s, stopped after `seconds` of LMS traffic."""
    budget_rate = Rate(calls=max(1, int(args.budget)), per_seconds=1.0)
    rates: dict[str, Rate | None] = {"bamboohr": None, "moodle": budget_rate if args.limiter == "budget" else None}
    bench = await _open(args, rates)
    try:
        await _reset(args)
        await control(args.lms, "throttle", budget=args.budget)
        run_id = await bench.request("full")
        task = asyncio.create_task(bench.execute(run_id))
        started = time.perf_counter()
        await asyncio.wait({task}, timeout=args.seconds)
        bench.interrupt()
        await task
        wall = time.perf_counter() - started
        run = await bench.run(run_id)
        lms = await control(args.lms, "stats")
        span = lms["span_seconds"] or wall
        async with bench.rt.sessions() as session:
            ops = await ledger.op_counts(session, run_id=run_id)  # an interrupted run has no totals yet
        allowed = args.budget * (span + 1)  # what the bucket admits over the span, its one-second burst included
        return {
            "limiter": args.limiter,
            "budget_rps": args.budget,
            "wall_s": round(wall, 2),
            "lms_span_s": round(span, 2),
            "lms_accepted": lms["accepted"],
            "lms_429": lms["throttled"],
            "achieved_rps": round(lms["accepted"] / span, 2) if span else 0.0,
            "budget_used": round(lms["accepted"] / allowed, 3),
            "ops_failed": sum(by.get("failed", 0) for by in ops.values()),
            "ops_done": sum(by.get("done", 0) + by.get("already", 0) for by in ops.values()),
            "status": run.status,
            "engine_saw_429": sum(limiter.throttled for limiter in bench.clients.limiters),
        }
    finally:
        await bench.close()


@contextmanager
def profiled(folder: Path | None, name: str) -> Iterator[None]:
    """Profile the block with pyinstrument (async-aware: time awaiting the network shows as `[await]`)."""
    if folder is None:
        yield
        return
    from pyinstrument import Profiler  # only the profiling run needs it

    profiler = Profiler(async_mode="enabled", interval=0.002)
    with profiler:
        yield
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    (folder / f"{name}.html").write_text(profiler.output_html())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_child", description=__doc__)
    parser.add_argument("workload", choices=("sync", "throttled", "setup"))
    parser.add_argument("--db", required=True)
    parser.add_argument("--hr", required=True)
    parser.add_argument("--lms", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--rates", choices=("unlimited", "default"), default="unlimited")
    parser.add_argument("--changed", type=float, default=0.01, help="share of people changed before the increment")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--limiter", choices=("budget", "none"), default="budget")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--profile", type=Path, default=None, help="write pyinstrument reports of syncs here")
    parser.add_argument("--steps", default="initial,noop,incremental", help="sync: which runs, in this order")
    parser.add_argument("--record", type=Path, default=None, help="sync: the fake LMS writes its writes here")
    args = parser.parse_args()
    args.steps = {step.strip() for step in args.steps.split(",")}
    configure_logging("WARNING")  # stderr; stdout carries the result
    work = {"sync": sync, "throttled": throttled, "setup": setup}[args.workload]
    print(json.dumps(asyncio.run(work(args))), flush=True)


if __name__ == "__main__":
    main()
