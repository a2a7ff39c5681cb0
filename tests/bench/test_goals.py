"""Issue 19's goals table: the verdicts and the Markdown the README takes, from figures made up here."""

from __future__ import annotations

from typing import Any

from bench.goals import Verdict, at_least, at_most, both, markdown, rows, table


def _sync(
    wall: float, plan: float, cpu: float, ops: int, peak: float, noop_plan: float, writes: int = 0
) -> dict[str, Any]:
    return {
        "initial": {
            "wall_s": wall,
            "phases_s": {"read": 1.0, "plan": plan, "apply": wall - 1.0 - plan},
            "engine_cpu_s": cpu,
            "fakes_cpu_s": 2.0,
            "ops_total": ops,
            "peak_rss_mb": peak,
        },
        "noop": {"wall_s": noop_plan + 1, "phases_s": {"plan": noop_plan}, "lms_writes": writes, "peak_rss_mb": peak},
    }


def _results() -> dict[str, Any]:
    return {
        "meta": {
            "started_at": "2026-12-02T07:00:00+00:00",
            "command": "python -m bench --sizes 10000,100000",
            "wall_s": 1234.0,
            "machine": {"cores": 2, "cpu_model": "AMD EPYC", "python": "3.11.9", "load_average_start": [0.5, 1, 1]},
        },
        "cells": {
            "sqlite/10000": {
                "db": "sqlite",
                "size": 10_000,
                "sync": _sync(wall=12.0, plan=2.0, cpu=8.0, ops=40_000, peak=140.0, noop_plan=0.5),
                "limit": {"wall_s": 8.0, "write_requests": 2_800},
                "burst": {
                    "count": 500,
                    "events": 500,
                    "concurrency": 20,
                    "missing": 0,
                    "p50_s": 0.4,
                    "p95_s": 1.5,
                    "p99_s": 2.2,
                },
            },
            "postgresql/10000": {
                "db": "postgresql",
                "size": 10_000,
                "sync": _sync(wall=30.0, plan=2.0, cpu=20.0, ops=40_000, peak=150.0, noop_plan=1.5, writes=3),
                "limit": {"wall_s": 10.0, "write_requests": 2_800},
                "burst": {
                    "count": 500,
                    "events": 500,
                    "concurrency": 20,
                    "missing": 2,
                    "statuses": {"202": 497, "503": 3},
                    "p50_s": 0.4,
                    "p95_s": 1.0,
                    "p99_s": 1.2,
                },
            },
            "sqlite/100000": {
                "db": "sqlite",
                "size": 100_000,
                "sync": _sync(wall=140.0, plan=20.0, cpu=80.0, ops=400_000, peak=160.0, noop_plan=4.0),
            },
        },
        "versus": {
            "0": {
                "naive": {"people_per_s": 200.0},
                "engine": {"sqlite": {"people_per_s": 700.0}, "postgresql": {"people_per_s": 500.0}},
            },
            "20": {"naive": {"people_per_s": 10.0}, "engine": {"sqlite": {"people_per_s": 250.0}}},
            "100": {"naive": {"people_per_s": 2.0}, "engine": {"sqlite": {"people_per_s": 90.0}}},
        },
        "demo": {"people": 5000, "wall_s": 31.5, "exit_code": 0, "runs": {"first sync": {"seconds": 20.0}}},
        "workers": {
            "1": {"people": 100_000, "wall_s": 150.0},
            "2": {"people": 100_000, "wall_s": 149.0, "cpu_s_per_process": [90.0, 0.4]},
            "why": "one lease per run",
        },
        "errors": ["postgresql 100000: RuntimeError: boom"],
    }


def _row(figure_start: str) -> Any:
    return next(row for row in rows(_results()) if row.figure.startswith(figure_start))


def test_at_most_and_at_least_say_by_how_much_a_goal_is_missed() -> None:
    assert at_most(14.9, 15.0) == Verdict(True, "met")
    assert at_most(45.0, 15.0) == Verdict(False, "missed: 3.0x the goal")
    assert at_most(None, 15.0).met is None
    assert at_least(3.0, 3.0).met is True
    assert at_least(0.93, 3.0) == Verdict(False, "missed: 31% of the goal")
    assert both(Verdict(True, "met"), Verdict(False, "missed: 3 writes")).text == "missed: 3 writes"
    assert both(Verdict(True, "met"), Verdict(True, "met")).met is True


def test_the_initial_sync_row_shows_the_split_and_judges_each_database() -> None:
    row = _row("10,000 initial sync")
    assert row.values["sqlite"] == "12.0 s (read / plan / apply 1.0 / 2.0 / 9.0)"
    assert row.verdicts["sqlite"].met is True
    assert row.verdicts["postgresql"] == Verdict(False, "missed: 2.0x the goal")
    assert row.goal == "under 15 s"


def test_cpu_per_op_physical_limit_and_no_op_rows() -> None:
    cpu = _row("engine CPU")
    assert "0.20 ms per op" in cpu.values["sqlite"] and cpu.verdicts["sqlite"].met is True
    assert cpu.verdicts["postgresql"].met is False  # 0.5 ms per op
    limit = _row("10,000 initial sync against")
    assert limit.values["sqlite"].startswith("1.5x") and limit.verdicts["sqlite"].met is True
    assert limit.verdicts["postgresql"].text == "missed: 1.5x the goal"  # 3.0x against 2x
    noop = _row("10,000 no-op")
    assert noop.verdicts["sqlite"].met is True
    assert noop.verdicts["postgresql"].met is False  # plan 1.5 s, and 3 writes


def test_engine_against_the_naive_script_per_latency() -> None:
    at_0, at_20, at_100 = (_row(f"engine vs the naive script, {ms} ms") for ms in (0, 20, 100))
    assert at_0.values["sqlite"] == "3.50x (700.0 vs 200.0 people/s)" and at_0.verdicts["sqlite"].met is True
    assert at_0.verdicts["postgresql"].text == "missed: 83% of the goal"
    assert at_20.goal == "at least 20x" and at_20.verdicts["sqlite"].met is True
    assert at_20.values["postgresql"] == "-"
    assert at_100.goal == "-" and at_100.verdicts["sqlite"].met is None  # reported, no goal


def test_memory_flatness_linearity_and_100k_planning_use_every_size() -> None:
    peak = _row("engine peak RSS")
    assert peak.values["sqlite"] == "10,000: 140 MB; 100,000: 160 MB"
    assert peak.verdicts["sqlite"].met is True  # 1.14x growth, under 300 MB
    assert "flatness needs two sizes" in peak.verdicts["postgresql"].text
    linear = _row("initial sync, ms per person")
    assert linear.verdicts["sqlite"].met is True  # 140 s at 100k
    assert "extrapolated from 10,000" in linear.verdicts["postgresql"].text
    assert _row("100k no-op").verdicts["sqlite"].met is True
    assert _row("100k no-op").verdicts["postgresql"].met is None


def test_demo_burst_and_workers_rows() -> None:
    demo = _row("`enrolsync demo")
    assert demo.values["sqlite"] == "31.5 s (its first sync 20.0 s)"
    assert demo.verdicts["sqlite"] == Verdict(False, "missed: 1.1x the goal")
    burst = _row("webhook burst")
    assert burst.values["sqlite"] == "0.40 / 1.50 / 2.20 s (500 calls, 20 at once)"
    assert burst.verdicts["sqlite"].met is True
    assert burst.values["postgresql"].endswith("(500 calls, 20 at once, 2 never applied, 3 answered 503)")
    assert burst.verdicts["postgresql"].text == "missed: calls never applied"
    workers = _row("2 workers")
    assert workers.values["postgresql"] == (
        "1: 150.0 s, 2: 149.0 s (1.01x); CPU of the two worker processes 90.0 / 0.4 s"
    )


def test_a_goal_for_10k_is_scaled_to_the_size_measured_and_says_so() -> None:
    results = _results()
    small = results["cells"].pop("sqlite/10000") | {"size": 1000}
    results["cells"] = {"sqlite/1000": small}
    row = next(r for r in rows(results) if r.figure.startswith("1,000 initial sync,"))
    assert row.goal == "under 1.5 s at 1,000 (15 s per 10k)"
    assert row.verdicts["sqlite"] == Verdict(False, "missed: 8.0x the goal")


def test_markdown_has_date_machine_command_one_column_per_database_and_the_notes() -> None:
    text = markdown(_results())
    first, table_text, *notes = text.split("\n\n")
    assert first.startswith("Measured 2026-12-02 on 2 cores, AMD EPYC, Python 3.11.9 (load average 0.50")
    assert "`python -m bench --sizes 10000,100000`" in first
    lines = table_text.splitlines()
    assert lines[0] == "| figure | SQLite | PostgreSQL | goal | met |"
    assert all(line.count(" | ") == 4 for line in lines[2:])  # every row fills every column
    assert "| SQLite: met; PostgreSQL: missed: 2.0x the goal |" in table_text
    assert any("one lease per run" in note for note in notes)
    assert any("postgresql 100000: RuntimeError: boom" in note for note in notes)


def test_a_pipe_in_a_figure_does_not_break_the_table() -> None:
    results = _results()
    results["demo"] = {"people": 5000, "wall_s": None, "timed_out_after_s": 600.0}
    results["versus"] = {}
    results["cells"]["sqlite/10000"]["burst"]["events"] = "5|0"
    lines = table(results).splitlines()
    assert all(line.replace("\\|", "").count("|") == 6 for line in lines)
    assert "| timed out after 600 s |" in table(results)
