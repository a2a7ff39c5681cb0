"""The reliability suite's own figures (runs, faults injected, operations checked, inputs tried), written to
`.reliability.json` at the repository root when a session that ran reliability tests ends: the README's
reliability section quotes them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUMMARY = Path(__file__).resolve().parents[2] / ".reliability.json"


@dataclass
class Figures:
    """Counts the reliability tests add to as they go; one per pytest session."""

    counts: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # by kind
    tests: set[str] = field(default_factory=set)

    def add(self, test: str, **counts: int) -> None:
        self.tests.add(test)
        self.counts.update(counts)

    def fault(self, kind: str, n: int = 1) -> None:
        self.faults[kind] += n

    def summary(self) -> dict[str, Any]:
        return {
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "soak_runs_setting": int(os.environ.get("ENROLSYNC_SOAK_RUNS", "100")),
            "tests": sorted(self.tests),
            **dict(sorted(self.counts.items())),
            "faults_injected": sum(self.faults.values()),
            "faults_by_kind": dict(sorted(self.faults.items())),
        }

    def write(self, path: Path = SUMMARY) -> None:
        if self.tests:
            path.write_text(json.dumps(self.summary(), indent=2) + "\n")
