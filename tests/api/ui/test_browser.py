"""The web page end to end in headless Chromium (Debian's `chromium` and `chromium-driver`, driven by selenium).

The app runs under uvicorn on a free loopback port, as a task on the test's own event loop, so the run harness
(`execute`, `steps`) works on the same database engine as the app; every browser call goes through a thread
(`asyncio.to_thread`) so the server keeps answering while the browser waits. One browser per module; each test
signs in afresh. Screenshots go to `test-artifacts/ui/` (gitignored) for a person to look at.

Where the browser is not installed the module is skipped with a loud reason (`.ci/browser` installs it when it runs
as root on a machine with apt; in CI a missing browser fails instead).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.sync.run import steps
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import ApiRole, PipelineHealth, utcnow
from tests.support.api import Execute, create_pipeline, run, token_for
from tests.support.factories import RULES, seed, team
from tests.support.factories import employee as person
from tests.support.leaks import LeakGuard

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra has it)")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path(os.environ.get("ENROLSYNC_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("ENROLSYNC_CHROMEDRIVER", "/usr/bin/chromedriver"))
# Without the background-networking flags Chromium calls home (and waits on a network the tests do not have).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
WAIT = 15.0
DESKTOP, PHONE = (1280, 900), (390, 844)
GUARDED = {**RULES, "policies": {"deactivation_guard": {"percent": 0, "min_count": 0}}}
T = TypeVar("T")
# One main landmark and one h1, a language, a label for every control and a name for every link and button.
ACCESSIBILITY = """
const problems = [];
if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one main landmark");
if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
if (!document.documentElement.lang) problems.push("no lang on html");
for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) problems.push("unlabelled " + el.outerHTML);
}
for (const el of document.querySelectorAll("a, button")) {
  if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("nameless " + el.outerHTML);
}
return problems;
"""


@pytest.fixture
def db_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """SQLite only: the pages run the API's own queries, which the API tests cover on both databases."""
    path = tmp_path / "enrolsync.sqlite"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        reason = (
            f"BROWSER TESTS SKIPPED: {', '.join(missing)} not installed "
            "(apt-get install chromium chromium-driver; bash .ci/browser does it when run as root)"
        )
        if os.environ.get("CI"):  # .ci/test ran .ci/browser: a missing browser there is a broken CI, not a skip
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    browser = webdriver.Chrome(options=options, service=service)
    browser.set_window_size(*DESKTOP)
    try:
        yield browser
    finally:
        browser.quit()


class Page:
    """The browser on the served app, every call off the event loop."""

    def __init__(self, driver: WebDriver, base: str, name: str) -> None:
        self.driver, self.base, self.name = driver, base, name

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def open(self, path: str) -> None:
        await self.call(self.driver.get, self.base + path)

    async def fill(self, css: str, text: str) -> None:
        def fill() -> None:
            field = self.driver.find_element(By.CSS_SELECTOR, css)
            field.clear()
            field.send_keys(text)

        await self.call(fill)

    async def click(self, css: str) -> None:
        await self.call(lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def text(self, css: str) -> str:
        """The element's text (read again if the live part was swapped under it)."""
        return await self.until_text(css, "")

    async def source(self) -> str:
        return await self.call(lambda: self.driver.page_source)

    async def script(self, code: str) -> Any:
        return await self.call(self.driver.execute_script, code)

    async def until_text(self, css: str, expected: str) -> str:
        """Wait (polling, at most WAIT seconds) until the element at `css` shows `expected`; its text."""

        def shown(d: WebDriver) -> tuple[str] | bool:
            found = d.find_elements(By.CSS_SELECTOR, css)
            text = found[0].text if found else None
            return (text,) if text is not None and expected in text else False  # a tuple: "" is a text too

        def wait() -> str:
            message = f"{css!r} never showed {expected!r}"
            # The live part of a run page is replaced every second: an element found may be gone when read.
            waiting = WebDriverWait(self.driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))
            found = waiting.until(shown, message)
            assert isinstance(found, tuple)
            return found[0]

        return await self.call(wait)

    async def shot(self, label: str) -> Path:
        """Check the page's basic accessibility and that it fits a phone; save it at desktop and phone sizes."""
        problems = await self.script(ACCESSIBILITY)
        assert not problems, f"{label}: {problems}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        await self.call(self.driver.save_screenshot, str(path))
        try:
            await self.call(self.driver.set_window_size, *PHONE)
            overflow = await self.script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{label}: {overflow}px wider than a phone"
            await self.call(self.driver.save_screenshot, str(ARTIFACTS / f"{self.name}-{label}-phone.png"))
        finally:
            await self.call(self.driver.set_window_size, *DESKTOP)
        return path

    async def sign_in(self, token: str, landing: str = "Pipelines") -> None:
        await self.open("/ui")
        await self.until_text("h1", "Sign in")
        await self.fill("#token", token + Keys.ENTER)  # by keyboard
        await self.until_text("h1", landing)


@pytest.fixture
async def page(app: FastAPI, driver: WebDriver, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """The app served on a free loopback port, and the module's browser on it with no cookies."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
        assert not serving.done(), "uvicorn did not start"
    await asyncio.to_thread(driver.execute_cdp_cmd, "Network.clearBrowserCookies", {})
    await asyncio.to_thread(driver.get_log, "browser")  # reading the log empties it
    await asyncio.to_thread(driver.set_window_size, *DESKTOP)
    try:
        yield Page(driver, f"http://127.0.0.1:{port}", request.node.name.replace("/", "_"))
        # Every script and style loaded, nothing refused by the content security policy, no script error.
        logged = await asyncio.to_thread(driver.get_log, "browser")
        errors = [e["message"] for e in logged if e["level"] == "SEVERE" and "status of 401" not in e["message"]]
        assert not errors, errors
    finally:
        await asyncio.to_thread(driver.get, "about:blank")  # no page left polling a server that is going away
        server.should_exit = True
        await serving
        listener.close()


async def test_sign_in_then_the_pipeline_list(
    page: Page,
    client: httpx.AsyncClient,
    tokens: dict[ApiRole, str],
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    session: AsyncSession,
) -> None:
    _, data = memory
    seed(data, person("E1"))
    nightly = await create_pipeline(client, ends, spec={**RULES, "schedule": "0 2 * * *"}, name="nightly")
    await run(client, execute, nightly)
    stuck = await create_pipeline(client, ends, name="stuck")
    session.add(PipelineHealth(pipeline_id=stuck, failures=3, quarantined_at=utcnow(), reason="LMS said 401"))
    await session.commit()

    await page.open("/ui/connections")
    assert "/ui/sign-in?next=/ui/connections" in await page.call(lambda: page.driver.current_url)
    await page.fill("#token", "esk_" + "x" * 43)
    await page.click("form button[type=submit]")
    assert "not known" in await page.until_text("#sign-in-error", "refused")
    assert "esk_" not in await page.source(), "a refused token is not echoed back"

    await page.fill("#token", tokens[ApiRole.VIEWER])
    await page.click("form button[type=submit]")
    await page.until_text("h1", "Connections")  # back where the sign-in began
    assert tokens[ApiRole.VIEWER] not in await page.source()
    assert await page.script("return document.cookie") == "", "the session cookie is out of scripts' reach"
    await page.click("nav a[href='/ui']")
    table = await page.until_text("#pipelines", "nightly")
    assert "succeeded" in table and "0 2 * * *" in table and "healthy" in table
    assert "quarantined" in table and "LMS said 401" in table and "never run" in table
    assert "Start" not in await page.source(), "a viewer is offered no run buttons"
    await page.shot("pipelines")  # also checks that it fits a phone's width
    await page.call(lambda: ActionChains(page.driver).send_keys(Keys.TAB).perform())
    assert await page.script("return document.activeElement.textContent") == "Skip to content"

    await page.click("#sign-out")
    await page.until_text("h1", "Sign in")
    await page.open("/ui")
    await page.until_text("h1", "Sign in")  # the cookie is gone


async def test_a_runs_progress_updates_live(
    page: Page,
    client: httpx.AsyncClient,
    tokens: dict[ApiRole, str],
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    runtime: Runtime,
) -> None:
    _, data = memory
    seed(data, person("E1"), person("E2"))
    pid = await create_pipeline(client, ends)
    await page.sign_in(tokens[ApiRole.OPERATOR])
    await page.open(f"/ui/pipelines/{pid}")
    await page.click("input[name=mode][value=apply]")
    await page.click("#start-heading ~ form button[type=submit]")
    await page.until_text("#run-status", "queued")
    run_id = (await page.call(lambda: page.driver.current_url)).rsplit("/", 1)[-1]
    await page.script("window.sameDocument = true")

    await steps.begin(runtime, run_id)
    await page.until_text("#run-status", "running")
    await steps.plan(runtime, run_id)
    planned = (await client.get(f"/runs/{run_id}")).json()["progress"]["ops_planned"]
    assert planned >= 2  # two accounts and their enrolments
    assert await page.until_text("#ops-planned", str(planned)) == str(planned)
    await page.shot("running")
    assert await steps.guard(runtime, run_id)
    await steps.apply(runtime, run_id)
    await steps.finish(runtime, run_id)

    await page.until_text("#run-status", "succeeded")
    assert await page.text("#ops-applied") == str(planned)
    assert await page.script("return window.sameDocument === true"), "updated in place, not by reloading"
    await page.shot("succeeded")

    await page.open(f"/ui/runs/{run_id}")  # the operations, filtered
    await page.call(lambda: page.driver.find_element(By.CSS_SELECTOR, "#f-hr").send_keys("E2"))
    await page.click("form[role=search] button")
    table = await page.until_text("#operations", "E2")
    assert "E1" not in table
    await page.open(f"/ui/runs/{run_id}?kind=deactivate_user")
    await page.until_text("#no-ops", "matches the filter")


async def test_an_operator_approves_a_blocked_run(
    page: Page,
    client: httpx.AsyncClient,
    tokens: dict[ApiRole, str],
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
) -> None:
    _, data = memory
    seed(data, person("E1"), person("E2"), person("E3"))
    pid = await create_pipeline(client, ends, spec=GUARDED)
    assert (await run(client, execute, pid))["status"] == "succeeded"
    data.hris.remove("E2")
    blocked = await run(client, execute, pid)
    assert blocked["status"] == "blocked"

    await page.sign_in(tokens[ApiRole.OPERATOR])
    await page.open(f"/ui/runs/{blocked['id']}")
    assert "E2" in await page.until_text("#blocked", "Waiting for approval")
    await page.shot("blocked")
    await page.click("#approve")

    await page.until_text("#run-status", "queued")
    assert "token:" in await page.text("#approved-by")
    await execute(blocked["id"])
    await page.until_text("#run-status", "succeeded")
    assert "deactivate user" in await page.text("#op-counts")
    assert (await client.get(f"/runs/{blocked['id']}")).json()["ops"]["deactivate_user"] == {"done": 1}
    await page.shot("approved")


async def test_a_persons_story_and_their_managers_team(
    page: Page,
    client: httpx.AsyncClient,
    tokens: dict[ApiRole, str],
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
) -> None:
    _, data = memory
    seed(data, person("M", department="Sales"), person("A", manager="M"))
    pid = await create_pipeline(client, ends)
    await run(client, execute, pid)

    await page.sign_in(tokens[ApiRole.VIEWER])
    await page.open(f"/ui/pipelines/{pid}")
    await page.fill("#email", "A@Example.com")
    await page.click("#find-heading ~ form button[type=submit]")
    await page.until_text("#found", "GivenA Example")
    await page.click("#found a")

    assert "in sync" in await page.until_text("#situation", "in sync")
    rules = await page.text("#explanation")
    assert "engineering: matches" in rules and "leads: does not match" in rules
    assert "department equals Engineering: it is Engineering" in rules
    assert "C1: enrolled" in await page.text("#enrolments")
    await page.shot("story")

    await page.open(f"/ui/pipelines/{pid}/people/M")
    await page.click("#team-link")
    team = await page.until_text("#team", "GivenA Example")
    assert "in sync" in team and "2 / 2" in team
    await page.shot("team")


async def test_a_manager_signs_in_and_follows_their_teams_progress(
    page: Page,
    app: FastAPI,
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    leak_guard: LeakGuard,
) -> None:
    _, data = memory
    team(data)  # M leads A and B; A leads C
    pid = await create_pipeline(client, ends)
    await run(client, execute, pid)
    c = (await client.get(f"/pipelines/{pid}/people/C")).json()["account_id"]
    done = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    data.lms.progress[(c, "C1")] = Progress(
        account_id=c, course_id="C1", state=ProgressState.COMPLETED, completed_at=done, last_activity_at=done
    )
    await run(client, execute, pid)

    await page.sign_in(await token_for(app, ApiRole.MANAGER, leak_guard, hr_id="A"), landing="My team")
    await page.click("#my-teams a")

    members = await page.until_text("#team", "GivenC Example")
    assert "completed" in await page.text('#team tr[data-hr-id="C"] tr[data-course="C1"]')
    assert "2026-11-20" in await page.text('#team tr[data-hr-id="C"] tr[data-course="C1"]')
    assert "GivenB" not in members
    assert (await page.text('#team-summary tr[data-course="C1"]')).split() == ["C1", "1", "0", "0", "1", "0", "100%"]
    await page.shot("manager-team")
    await page.open(f"/ui/pipelines/{pid}/teams/M")  # their own manager's team
    assert "GivenB" not in await page.until_text("main", "own reports")
    await page.open("/ui/connections")
    assert "signed in as manager" in await page.until_text("main", "Not allowed")
    refused = [e["message"] for e in await page.call(page.driver.get_log, "browser")]  # read, so emptied
    assert refused and all("status of 403" in message for message in refused), refused


async def test_an_admin_checks_a_connection(page: Page, tokens: dict[ApiRole, str], ends: tuple[str, str]) -> None:
    await page.sign_in(tokens[ApiRole.ADMIN])
    await page.open("/ui/connections")
    await page.click(f"#connection-{ends[0]} form button")
    assert "Reached" in await page.until_text(f"#connection-{ends[0]} .check-result", "Reached")
    assert f"/webhooks/{ends[0]}" in await page.text(f"#connection-{ends[0]}")


async def test_an_operator_cancels_a_queued_run_after_confirming(
    page: Page, client: httpx.AsyncClient, tokens: dict[ApiRole, str], ends: tuple[str, str]
) -> None:
    pid = await create_pipeline(client, ends)
    run_id = (await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})).json()["id"]
    await page.sign_in(tokens[ApiRole.OPERATOR])
    await page.open(f"/ui/runs/{run_id}")
    await page.until_text("#run-status", "queued")

    await page.click("#cancel")
    dialog = await page.call(lambda: page.driver.switch_to.alert)
    assert "Operations already applied stay applied" in dialog.text
    await page.call(dialog.accept)

    await page.until_text("#run-status", "cancelled")
    assert (await client.get(f"/runs/{run_id}")).json()["cancelled_by"].startswith("token:")
    await page.shot("cancelled")
