"""The README's reference parts stay true (issue 17): its example pipeline document is valid, every operator is
documented, and every setting is in its settings table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

from enrolsync.settings import Settings
from enrolsync.sync.rules.spec import Leaf, parse_spec

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start)
    return README[start:end]


def test_the_rule_syntax_example_is_a_valid_pipeline_document() -> None:
    section = _section("### Rule syntax")
    example = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert example is not None
    spec = parse_spec(json.loads(example.group(1)))
    assert len(spec.rules) == 4 and spec.schedule == "*/15 * * * *"


def test_every_operator_is_documented() -> None:
    section = _section("### Rule syntax")
    leaves = get_args(get_args(Leaf)[0])
    for leaf in leaves:
        op = get_args(leaf.model_fields["op"].annotation)[0]
        assert f'"op": "{op}"' in section, op


def test_every_setting_is_in_the_settings_table() -> None:
    for name, field in Settings.model_fields.items():
        variable = "DATABASE_URL" if name == "database_url" else f"ENROLSYNC_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} ({field.description}) is missing from the README"
