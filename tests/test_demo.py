"""`enrolsync demo`: the whole story through the real API, worker and engine against the shipped fakes, with the
connections to the fakes paced by the budget the fakes declare (none), not by the vendors' default budgets."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from enrolsync import demo
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.connector import BambooHRSource
from enrolsync.connectors.moodle.client import encode
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.connector import MoodleTarget
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.demo_systems import COURSES, FAKE_BUDGET, FakeBudgets, WriteTally, systems_apart
from enrolsync.settings import Settings
from tests.support.connectors import MOODLE_TOKEN as TOKEN
from tests.support.moodle import URL, call, new_user

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
    # The function named in the URL's query instead of the form, as the fake accepts it too.
    fields = [("wstoken", TOKEN), ("moodlewsrestformat", "json"), *encode({"users": [{"id": 2, "auth": "saml2"}]})]
    moodle.handler(
        httpx.Request(
            "POST",
            f"{URL}?wsfunction=core_user_update_users",
            content=urlencode(fields).encode(),
        )
    )
    call(moodle, "core_course_get_courses", {})
    assert tally() == len(moodle.writes) == 3


async def test_the_systems_serve_from_a_process_of_their_own_and_answer_the_demo_over_its_pipe() -> None:
    async with systems_apart(DEMO_PEOPLE, seed=7) as systems:
        site = systems.served
        assert site.budget == FAKE_BUDGET and set(site.course_ids) == set(COURSES)
        fields = [
            ("wstoken", "demo-moodle-token"),
            ("wsfunction", "core_user_create_users"),
            ("moodlewsrestformat", "json"),
            *encode({"users": [new_user("fresh.one", "fresh.one@example.com")]}),
        ]
        async with httpx.AsyncClient(base_url=site.lms_url) as http:
            assert await systems.writes() == 0
            created = await http.post("/webservice/rest/server.php", content=urlencode(fields).encode())
            assert created.json()[0]["username"] == "fresh.one"
            assert await systems.writes() == 1  # the tally of the Moodle that answered over HTTP
        changes = await systems.change_hr()
        assert changes.hired.startswith("Ada Newhire (#") and changes.moved.endswith("-> Sales")
        process = systems._process
    assert process.returncode == 0  # told to stop at the block's end, it ended by itself


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
    # The first sync applied the dry run's plan as reviewed: a run of its own, planned by the dry run alone.
    with closing(sqlite3.connect(tmp_path / "demo" / "enrolsync.sqlite")) as db:
        runs = db.execute("SELECT id, mode, scope, plan_run_id FROM run ORDER BY created_at").fetchall()
    dry_run, first = runs[0], runs[1]
    assert [run[1:] for run in runs] == [
        ("plan", "full", None),
        ("apply", "full", dry_run[0]),
        ("apply", "full", None),
        ("apply", "incremental", None),
    ]
    assert f"POST /runs/{dry_run[0]}/apply" in out and first[0] != dry_run[0]
    assert "connections to them are unthrottled" in out
    # The worker's connections to both fakes were paced by the fakes' budget, and the runs went through them.
    limiters = [limiter for clients in made for limiter in clients._limiters.values()]
    used = {key for clients in made for (key, _), limiter in clients._limiters.items() if limiter.requests}
    assert used == {"bamboohr", "moodle"}
    assert {limiter.rate for limiter in limiters} == {FAKE_BUDGET}
