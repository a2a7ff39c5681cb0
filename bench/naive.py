"""Scenario 6: the initial sync as a hand-written script would do it, for the speed-up to be a measured ratio.

One person at a time, one request at a time: look the account up, create it, enrol it in each course, then grant
each manager the manager role over each report. No batching, no concurrency, no database; one keep-alive HTTP
connection (kinder to the script than most are). What each person needs comes from the same rules the engine
evaluates, so both do the same work and only the way they talk to Moodle differs.

    python -m bench.naive --hr URL --lms URL --people 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.harness import LOOPBACK, BenchClientFactory, connection_configs, pipeline_spec
from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.kit.egress import EgressPolicy
from enrolsync.connectors.model import Person
from enrolsync.connectors.moodle.client import encode
from enrolsync.connectors.moodle.mapping import create_payload
from enrolsync.logs import configure_logging
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.evaluate import desired_state, manager_of
from enrolsync.sync.rules.spec import parse_spec


async def read_people(config: BambooHRConfig) -> list[Person]:
    """Everyone, into memory, as such a script does (through the engine's own reader: reading is not the point)."""
    clients = BenchClientFactory(rates={"bamboohr": None}, egress=EgressPolicy(LOOPBACK))
    people: list[Person] = []
    async with clients.connector(BambooHRSource, config) as source:
        async for page in source.read_persons(None):
            people.extend(page.items)
    return people


@dataclass
class Script:
    http: httpx.Client
    token: str
    role_ids: dict[str, int]
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    accounts: dict[str, int] = field(default_factory=dict)  # hr_id -> Moodle user id

    def call(self, function: str, **params: Any) -> Any:
        form = [("wstoken", self.token), ("wsfunction", function), ("moodlewsrestformat", "json"), *encode(params)]
        self.requests += 1
        body = self.http.post("webservice/rest/server.php", data=dict(form)).json()
        if isinstance(body, dict) and "exception" in body:
            self.errors.append(f"{function}: {body.get('errorcode')}")
        return body

    def provision(self, wanted: DesiredState) -> None:
        found = self.call("core_user_get_users_by_field", field="idnumber", values=[wanted.hr_id])
        if isinstance(found, list) and found:
            user_id = int(found[0]["id"])
        else:
            user = create_payload(wanted.fields, default_auth="manual", job_title_field="jobtitle")
            if wanted.sso is not None:
                user["auth"] = wanted.sso.auth
            created = self.call("core_user_create_users", users=[user])
            if not isinstance(created, list):
                return
            user_id = int(created[0]["id"])
        self.accounts[wanted.hr_id] = user_id
        for course in sorted(wanted.enrolments):
            entry = {"roleid": self.role_ids["student"], "userid": user_id, "courseid": int(course)}
            self.call("enrol_manual_enrol_users", enrolments=[entry])

    def grant_roles(self, wanted: DesiredState) -> None:
        holder = self.accounts.get(wanted.hr_id)
        for grant in wanted.roles:
            report = self.accounts.get(grant.scope_hr_id or "")
            if holder is None or report is None:
                continue
            entry = {"roleid": self.role_ids["parent"], "userid": holder, "contextlevel": "user", "instanceid": report}
            self.call("core_role_assign_roles", assignments=[entry])


def naive_sync(hr_url: str, lms_url: str, info: dict[str, Any], limit: int) -> dict[str, Any]:
    configs = connection_configs(hr_url, lms_url, info["role_ids"])
    spec = parse_spec(pipeline_spec(info["course_ids"]))
    started = time.perf_counter()
    people = asyncio.run(read_people(BambooHRConfig.model_validate(configs["bamboohr"])))
    read_s = time.perf_counter() - started
    today = datetime.now(UTC).date()
    reports: dict[str, set[str]] = defaultdict(set)
    for person in people:
        # Who counts as a report as the engine counts them, so both grant the manager role over the same people.
        if (manager := manager_of(person, spec.policies, today)) is not None:
            reports[manager].add(person.hr_id)
    sample = sorted(people, key=lambda p: int(p.hr_id))[:limit]
    wanted = [
        w
        for p in sample
        if (w := desired_state(p, spec, direct_reports=frozenset(reports[p.hr_id]), today=today)) and w.active
    ]
    with httpx.Client(base_url=f"{lms_url}/", timeout=30) as http:
        script = Script(http=http, token=configs["moodle"]["token"], role_ids=info["role_ids"])
        for one in wanted:
            script.provision(one)
        for one in wanted:
            script.grant_roles(one)
    wall = time.perf_counter() - started
    # The script reads the whole company but syncs a sample: charge the sample its share of the read.
    charged = wall - read_s + read_s * len(sample) / max(len(people), 1)
    return {
        "people": len(sample),
        "accounts": len(script.accounts),
        "wall_s": round(wall, 3),
        "hr_read_s": round(read_s, 3),
        "people_per_s": round(len(sample) / charged, 1),
        "lms_requests": script.requests,
        "requests_per_person": round(script.requests / len(sample), 3) if sample else None,
        "errors": len(script.errors),
        "first_errors": script.errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    parser.add_argument("--hr", required=True)
    parser.add_argument("--lms", required=True)
    parser.add_argument("--people", type=int, default=2000, help="how many people the script syncs (a sample)")
    args = parser.parse_args()
    configure_logging("WARNING")  # stderr; stdout carries the result
    info = httpx.post(f"{args.lms}/_bench/info", timeout=30).json()["result"]
    print(json.dumps(naive_sync(args.hr, args.lms, info, args.people)), flush=True)


if __name__ == "__main__":
    main()
