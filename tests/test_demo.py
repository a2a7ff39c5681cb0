"""`enrolsync demo`: the whole story through the real API, worker and engine against the shipped fakes, with the
connections to the fakes paced by the budget the fakes declare (none), not by the vendors' default budgets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from enrolsync import demo
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.connector import BambooHRSource
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.connector import MoodleTarget
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.demo_systems import FAKE_BUDGET, FakeBudgets, WriteTally
from enrolsync.settings import Settings
from tests.support.connectors import MOODLE_TOKEN as TOKEN
from tests.support.moodle import call, new_user

DEMO_PEOPLE = 20  # enough for the demo's HR changes (an engineer to move, someone to terminate)


def _moodle(base_url: str) -> MoodleConfig:
    return MoodleConfig(base_url=base_url, token=SecretStr(TOKEN))


def test_connections_to_a_fake_take_its_budget_and_any_other_keeps_the_connectors_default() -> None:
    clients = FakeBudgets(budgets={"http://127.0.0.1:8123": None})
    to_fake = clients.limiter(MoodleTarget.info, _moodle("http://127.0.0.1:8123/"))
    elsewhere = clients.limiter(MoodleTarget.info, _moodle("https://moodle.example.test/"))
    other_port = clients.limiter(MoodleTarget.info, _moodle("http://127.0.0.1:8124/"))

    assert to_fake.rate is None
    assert elsewhere.rate == other_port.rate == MoodleTarget.info.default_rate is not None
    # One limiter per endpoint in the process, as for any connection: runs and steps share its pauses.
    assert clients.limiter(MoodleTarget.info, _moodle("http://127.0.0.1:8123/")) is to_fake
    hr = BambooHRConfig(
        company_domain="acme",
        base_url="http://127.0.0.1:8123/api/gateway.php/acme/",
        api_key=SecretStr("k"),
    )
    assert clients.limiter(BambooHRSource.info, hr).rate is None
    assert clients.limiter(BambooHRSource.info, hr) is not to_fake  # another connector: a limiter of its own


def test_the_write_tally_counts_each_write_request_once_as_the_log_grows() -> None:
    moodle = FakeMoodle(token=TOKEN)
    tally = WriteTally(moodle)
    call(moodle, "core_webservice_get_site_info", {})
    assert tally() == 0
    call(moodle, "core_user_create_users", {"users": [new_user("fresh.one", "fresh.one@example.com")]})
    call(moodle, "core_user_update_users", {"users": [{"id": 0, "auth": "manual"}]})  # a probe changes nothing
    assert tally() == len(moodle.writes) == 1
    call(moodle, "core_user_create_users", {"users": [new_user("fresh.two", "fresh.two@example.com")]})
    assert tally() == tally() == len(moodle.writes) == 2


def test_the_demo_syncs_everything_through_the_service_paced_by_the_fakes_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[FakeBudgets] = []

    def recorded(**kwargs: Any) -> FakeBudgets:
        made.append(FakeBudgets(**kwargs))
        return made[-1]

    monkeypatch.setattr(demo, "FakeBudgets", recorded)
    demo.main(Settings(data_dir=tmp_path), people=DEMO_PEOPLE, port=0)
    out = capsys.readouterr().out

    for title in ("dry run", "first sync", "same sync again", "incremental sync"):
        assert re.search(rf"^== {title}: succeeded", out, re.MULTILINE), out
    assert "the second applied sync made 0 writes" in out
    assert "connections to them are unthrottled" in out
    # The worker's connections to both fakes were paced by the fakes' budget, and the runs went through them.
    limiters = [limiter for clients in made for limiter in clients._limiters.values()]
    used = {key for clients in made for (key, _), limiter in clients._limiters.items() if limiter.requests}
    assert used == {"bamboohr", "moodle"}
    assert {limiter.rate for limiter in limiters} == {FAKE_BUDGET}
