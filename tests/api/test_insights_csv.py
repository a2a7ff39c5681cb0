"""CSV exports (issue 16): parseable, header first, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from enrolsync.api.insights import to_csv


def test_text_a_spreadsheet_would_run_is_quoted_and_numbers_stay_numbers() -> None:
    rows = [
        {"name": '=HYPERLINK("http://evil.example")', "course": "C1", "completion_rate": 0.5},
        {"name": "-2+3", "course": "@SUM(A1)", "completion_rate": None},
        {"name": "Ann O'Neil, Jr.", "course": "C\n2", "completion_rate": -1},
    ]

    parsed = list(csv.DictReader(io.StringIO(to_csv(("name", "course", "completion_rate"), rows))))

    assert [(r["name"], r["course"], r["completion_rate"]) for r in parsed] == [
        ('\'=HYPERLINK("http://evil.example")', "C1", "0.5"),
        ("'-2+3", "'@SUM(A1)", ""),
        ("Ann O'Neil, Jr.", "C\n2", "-1"),
    ]


def test_an_empty_export_is_its_header() -> None:
    assert to_csv(("key", "course"), []) == "key,course\r\n"
