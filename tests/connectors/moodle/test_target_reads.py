"""Reads whose cost follows what the pipeline manages, not the size of the site (issue 19): linked accounts by
id, emails spelt differently found by searches, and independent requests sent together up to the connection's
concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

OTHERS = 300  # accounts the site holds that no test here asks about


class InFlight(httpx.AsyncBaseTransport):
    """Serves `fake`, counting the requests in flight at once: each answer waits a few turns of the event loop, so
    requests sent together overlap and requests sent one after another do not."""

    def __init__(self, fake: FakeMoodle) -> None:
        self.fake = fake
        self.now = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # a turn of the loop, not a wait: other requests may start meanwhile
            await request.aread()
            return self.fake.handler(request)
        finally:
            self.now -= 1


@pytest.fixture
def site(fake: FakeMoodle) -> FakeMoodle:
    """The seeded site with `OTHERS` more accounts."""
    for n in range(OTHERS):
        fake.add_user(f"other{n}", "Other", f"User {n}", f"other{n}@elsewhere.example", idnumber=f"X{n}")
    return fake


@pytest.fixture
def wire(site: FakeMoodle) -> InFlight:
    return InFlight(site)


async def connect(config: MoodleConfig, transport: httpx.AsyncBaseTransport) -> AsyncIterator[MoodleTarget]:
    async with build_client(config, transport=transport) as http:
        yield MoodleTarget(config, http, retry=ReadRetry(attempts=3, clock=FakeClock()))


@pytest.fixture
async def reader(config: MoodleConfig, wire: InFlight) -> AsyncIterator[MoodleTarget]:
    async for target in connect(config, wire):
        yield target


def whole_site_reads(fake: FakeMoodle) -> list[object]:
    return [c for c in fake.called("core_user_get_users") if {"key": "email", "value": "%"} in c["criteria"]]


async def test_linked_accounts_are_read_by_id_and_a_deleted_one_is_absent(
    reader: MoodleTarget, site: FakeMoodle
) -> None:
    site.delete(5)  # renamed, and still found by id
    guest = site.user("guest")
    assert guest is not None

    records = await collect(reader.read_accounts(["3", "4", "5", str(guest.id), "999999", "not-an-id"]))

    assert sorted(r.account.account_id for r in records) == ["3", "4"]
    assert whole_site_reads(site) == [] and site.called("core_user_get_users") == []
    [read] = site.called("core_user_get_users_by_field")
    assert (read["field"], sorted(read["values"])) == ("id", sorted(["3", "4", "5", str(guest.id), "999999"]))


async def test_the_sso_identity_comes_with_the_account(reader: MoodleTarget, site: FakeMoodle) -> None:
    site.state.users[3].auth, site.state.users[4].auth = "saml2", "manual"

    records = {r.account.account_id: r for r in await collect(reader.read_accounts(["3", "4"]))}

    assert records["3"].sso is not None and (records["3"].sso.auth, records["3"].sso.subject) == (
        "saml2",
        site.state.users[3].email,
    )
    assert records["4"].sso is None
    assert len(site.called("core_user_get_users_by_field")) == 1, "one read for accounts and identities"


async def test_many_accounts_are_read_in_chunks_a_few_at_once(
    reader: MoodleTarget, site: FakeMoodle, wire: InFlight
) -> None:
    ids = [str(u.id) for u in site.state.users.values() if u.username.startswith("other")]

    records = await collect(reader.read_accounts(ids))

    assert sorted(r.account.account_id for r in records) == sorted(ids)
    assert [len(c["values"]) for c in site.called("core_user_get_users_by_field")] == [200, 100]
    assert wire.peak == 2, "both chunks in flight together"


async def test_emails_spelt_differently_are_searched_for_not_found_by_reading_every_account(
    reader: MoodleTarget, site: FakeMoodle, wire: InFlight
) -> None:
    ada = site.add_user("ada", "Ada", "Lovelace", "Ada.Lovelace@ACME.example")
    wanted = ["ada.LOVELACE@acme.example", *(f"new{n}@acme.example" for n in range(11))]

    found = await reader.find_accounts(field="email", values=wanted)

    assert [a.account_id for a in found] == [str(ada)]
    assert whole_site_reads(site) == []
    searched = sorted(c["criteria"][0]["value"] for c in site.called("core_user_get_users"))
    assert searched == sorted(w.casefold() for w in wanted)
    assert wire.peak == 4, "searches go out together, up to the connection's concurrency"


async def test_on_a_small_site_many_emails_are_looked_for_in_one_read(target: MoodleTarget, fake: FakeMoodle) -> None:
    alex = fake.user("alex.example")
    assert alex is not None
    wanted = ["ALEX.example@Example.COM", *(f"new{n}@acme.example" for n in range(11))]
    fake.state.users[alex.id].email = "Alex.Example@example.com"

    found = await target.find_accounts(field="email", values=wanted)

    assert [a.account_id for a in found] == [str(alex.id)]
    assert len(whole_site_reads(fake)) == 1 and len(fake.called("core_user_get_users")) == 1


async def test_requests_in_flight_never_exceed_the_connections_concurrency(
    config: MoodleConfig, site: FakeMoodle
) -> None:
    courses = [str(site.add_course(f"C{n}")) for n in range(10)]
    for allowed in (1, 2, 4):
        wire = InFlight(site)
        async for target in connect(config.model_copy(update={"max_concurrency": allowed}), wire):
            await collect(target.list_enrolments(course_ids=courses))
        assert wire.peak == allowed


async def test_a_throttled_read_among_concurrent_ones_waits_and_is_retried(
    config: MoodleConfig, site: FakeMoodle
) -> None:
    clock = FakeClock()
    site.fail_next(1, status=429, retry_after=3)
    ids = [str(u.id) for u in site.state.users.values() if u.username.startswith("other")]
    async with build_client(config, transport=site.transport()) as http:
        target = MoodleTarget(config, http, retry=ReadRetry(attempts=3, clock=clock))
        records = await collect(target.read_accounts(ids))
    assert len(records) == OTHERS and 3 in clock.sleeps


async def test_a_few_emails_are_searched_for_at_once_without_asking_the_sites_size(
    reader: MoodleTarget, site: FakeMoodle
) -> None:
    """A webhook's run matches one or two people: one round of searches costs less than a probe first."""
    await reader.find_accounts(field="email", values=["New.One@acme.example", "new.two@acme.example"])

    assert [c["field"] for c in site.called("core_user_get_users_by_field")] == ["email"]
    assert len(site.called("core_user_get_users")) == 2 and whole_site_reads(site) == []
