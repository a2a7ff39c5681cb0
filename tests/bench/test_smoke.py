"""`python -m bench --quick`'s smallest scenario, end to end at 50 people, so the bench cannot rot unnoticed.

Real processes (two fakes on loopback and the engine), a SQLite file; about 15-30 s, marked `bench` so a fast
local run can leave it out (`-m "not bench"`). Asserts that figures come out, never what they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.bench


def test_the_quick_bench_syncs_50_people_and_writes_its_figures(tmp_path: Path) -> None:
    out, table = tmp_path / "figures.json", tmp_path / "table.md"
    argv = ["--quick", "--sizes", "50", "--dbs", "sqlite", "--scenarios", "1", "--out", str(out)]
    assert main([*argv, "--markdown", str(table)]) == 0
    figures = json.loads(out.read_text())
    initial = figures["cells"]["sqlite/50"]["sync"]["initial"]
    assert initial["status"] == "succeeded"
    assert initial["people_read"] == 50
    assert initial["ops_failed"] == 0 and initial["ops_total"] > 50  # accounts, enrolments, roles
    assert figures["errors"] == []
    assert "| 50 initial sync, wall | " in table.read_text()
