"""`python -m bench` options, and the `--quick` preset (a few minutes) beside the full defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

SCENARIOS = {
    1: "initial full sync (wall, read / plan / apply, CPU per op, peak RSS)",
    2: "no-op re-sync (plan time, writes, peak RSS)",
    3: "incremental sync after 1% of people moved",
    4: "throttled LMS (429 + Retry-After beyond a budget)",
    5: "webhook burst through the service (p50 / p95 / p99 to the enrolment)",
    6: "engine against the naive one-person-at-a-time script, per LMS latency",
    7: "physical limit: the fake replaying the initial sync's writes with no engine",
    8: "`enrolsync demo --people N`, wall",
    9: "1 and 2 workers on PostgreSQL, initial sync of the largest size through the service",
}

# What each option is when not given: the full run, and the quick preset (a few minutes on two cores).
FULL: dict[str, Any] = {
    "sizes": "1000,10000",
    "latencies": "0,20,100",
    "naive_people": 1000,
    "naive_seconds": 60.0,
    "events": 500,
    "concurrency": 20,
    "demo_people": 5000,
    "throttle_seconds": 15.0,
}
QUICK: dict[str, Any] = {
    "sizes": "500",
    "latencies": "0,20,100",
    "naive_people": 300,
    "naive_seconds": 8.0,
    "events": 100,
    "concurrency": 20,
    "demo_people": 500,
    "throttle_seconds": 5.0,
}


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    dbs: list[str]
    scenarios: frozenset[int]
    latencies: list[float]
    lms_latency_ms: float
    naive_people: int
    naive_seconds: float
    events: int
    concurrency: int
    burst_sizes: list[int]
    demo_people: int
    demo_timeout: float
    workers_size: int
    budget: float
    throttle_seconds: float
    throttle_sizes: list[int]
    rates: str
    profile: Path | None
    out: Path
    markdown: Path | None
    quick: bool
    argv: list[str]


def ints(text: str) -> list[int]:
    """`1000,10_000, 100000` -> [1000, 10000, 100000]."""
    return [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]


def floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    listing = "; ".join(f"{n} {what}" for n, what in SCENARIOS.items())
    parser = argparse.ArgumentParser(prog="python -m bench", description=f"Scenarios: {listing}.")
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes and samples: the whole bench in a few minutes")
    add("--sizes", help=f"company sizes, comma-separated (default {FULL['sizes']}; quick {QUICK['sizes']})")
    add("--dbs", default="sqlite,postgresql", help="sqlite and/or postgresql")
    add("--scenarios", default=",".join(map(str, SCENARIOS)), help="which scenarios, by number")
    add("--latencies", help="scenario 6: fake Moodle latencies in ms (default 0,20,100)")
    add("--lms-latency-ms", type=float, default=0.0, help="scenarios 1-5 and 7: fake Moodle answers this much later")
    add("--naive-people", type=int, help="scenario 6: company size both the engine and the script sync")
    add("--naive-seconds", type=float, help="scenario 6: about how long the script may take per latency")
    add("--events", type=int, help="scenario 5: webhook calls in the burst (default 500)")
    add("--concurrency", type=int, help="scenario 5: calls in flight (default 20)")
    add("--burst-sizes", help="scenario 5: at which sizes (default the smallest with enough people)")
    add("--demo-people", type=int, help="scenario 8: the demo's company size (default 5000)")
    add("--demo-timeout", type=float, default=600.0, help="scenario 8: give up after this many seconds")
    add("--workers-size", type=int, help="scenario 9: company size (default the largest of --sizes)")
    add("--budget", type=float, default=20.0, help="scenario 4: LMS requests per second")
    add("--throttle-seconds", type=float, help="scenario 4: how long to measure")
    add("--throttle-sizes", help="scenario 4 sizes (default the smallest)")
    add("--rates", choices=("unlimited", "default"), default="unlimited", help="the connectors' request budgets")
    add("--profile", type=Path, help="write pyinstrument reports of scenarios 1 and 2 here")
    add("--out", type=Path, help="JSON file (default bench/results/bench-<time>.json)")
    add("--markdown", type=Path, help="also write the goals table, date and machine here (for the README)")
    return parser


def parse(argv: list[str] | None) -> Options:
    args = _parser().parse_args(argv)
    preset = QUICK if args.quick else FULL
    given = {name: value for name, value in vars(args).items() if value is not None}
    merged = {**preset, **given}
    sizes = ints(merged["sizes"])
    events = int(merged["events"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Options(
        sizes=sizes,
        dbs=[db.strip() for db in args.dbs.split(",") if db.strip()],
        scenarios=frozenset(ints(args.scenarios)) & frozenset(SCENARIOS),
        latencies=floats(merged["latencies"]),
        lms_latency_ms=args.lms_latency_ms,
        naive_people=int(merged["naive_people"]),
        naive_seconds=float(merged["naive_seconds"]),
        events=events,
        concurrency=int(merged["concurrency"]),
        burst_sizes=ints(args.burst_sizes) if args.burst_sizes else default_burst_sizes(sizes, events),
        demo_people=int(merged["demo_people"]),
        demo_timeout=args.demo_timeout,
        workers_size=args.workers_size or max(sizes),
        budget=args.budget,
        throttle_seconds=float(merged["throttle_seconds"]),
        throttle_sizes=ints(args.throttle_sizes) if args.throttle_sizes else sizes[:1],
        rates=args.rates,
        profile=args.profile,
        out=args.out or RESULTS / f"bench-{stamp}.json",
        markdown=args.markdown,
        quick=args.quick,
        argv=list(argv) if argv is not None else [],
    )


def default_burst_sizes(sizes: list[int], events: int) -> list[int]:
    """The smallest size with about twice `events` people (a burst needs people outside Engineering to move),
    else the largest size there is."""
    roomy = [size for size in sorted(sizes) if size >= 2 * events]
    return roomy[:1] or sorted(sizes)[-1:]


def naive_sample(people: int, latency_ms: float, seconds: float) -> int:
    """How many people the naive script syncs at `latency_ms`: all of them, or as many as fit in about `seconds`
    (it sends about 4.5 requests a person; at 100 ms that is nearly half a second each). At least 20."""
    per_person_s = 4.5 * latency_ms / 1000 + 0.005
    return max(20, min(people, int(seconds / per_person_s)))
