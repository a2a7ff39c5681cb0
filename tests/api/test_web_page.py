"""The web page at /ui, driven end to end in headless Chromium (Debian's chromium and chromedriver, through
selenium): sign-in, the pipeline list, a run's live progress and its operations, approving a blocked run, a
person's story and their manager's team. Screenshots land in `.artifacts/web/` for a person to look at after a run.

The app runs in the test's event loop behind a real loopback server; the browser is driven from a thread
(selenium blocks), and runs are executed in-process between steps, as a worker would execute them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person
from enrolsync.sync.store.tables import ApiRole
from tests.support.api import Execute, create_pipeline, run
from tests.support.harness import RecordingQueue

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "web"
SPEC = {
    "rules": [{"name": "everyone", "when": {"attr": "family_name", "op": "exists"}, "enrol": ["C1"]}],
    "policies": {"deactivation_guard": {"percent": 0, "min_count": 0}},  # any deactivation needs approval
}

# One database is enough for a browser: the API under the page is tested on both elsewhere.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        reason = "chromium and chromedriver are not installed (bash .ci/browser installs them): web page untested"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.implicitly_wait(0)
    yield browser
    browser.quit()


@pytest.fixture
async def site(app: FastAPI) -> AsyncIterator[str]:
    """The app on a loopback port (its lifespan already runs under the `app` fixture)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task


async def _in_browser(step: Callable[[], T]) -> T:
    return await asyncio.to_thread(step)


def _wait(browser: WebDriver, condition: Callable[[WebDriver], Any], seconds: float = 15) -> Any:
    # The page re-renders parts as a run moves on: an element read mid-render is read again.
    return WebDriverWait(
        browser, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def _text(browser: WebDriver, css: str, text: str) -> None:
    _wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def _shot(browser: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _sign_in(browser: WebDriver, site: str, token: str) -> None:
    browser.get(f"{site}/ui")
    field = _wait(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "label[for=token] input")))
    field.clear()
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


async def _company(client: httpx.AsyncClient, ends: tuple[str, str], data: Dataset) -> str:
    for n, name in enumerate(("Ada", "Bo", "Cy")):
        manager = "W0" if n else None  # Ada leads Bo and Cy
        data.hris.put(
            Person(
                hr_id=f"W{n}", given_name=name, family_name="Lee", work_email=f"w{n}@example.com", manager_hr_id=manager
            )
        )
    return await create_pipeline(client, ends, SPEC, name="Onboarding")


async def test_sign_in_then_the_pipeline_list(
    browser: WebDriver, site: str, tokens: dict[ApiRole, str], client: httpx.AsyncClient,
    ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute,
) -> None:  # fmt: skip
    pipeline_id = await _company(client, ends, memory[1])
    await run(client, execute, pipeline_id)

    def wrong_then_right() -> None:
        _sign_in(browser, site, "esk_not-a-token")
        _text(browser, "[role=alert]", "sign in again")
        _shot(browser, "sign-in-refused")
        _sign_in(browser, site, tokens[ApiRole.VIEWER])
        _text(browser, "main h1", "Pipelines")
        _text(browser, "main table", "Onboarding")
        _text(browser, "main table", "succeeded")
        _shot(browser, "pipelines")
        # Keyboard only: the pipeline's link is reachable and opens it.
        link = browser.find_element(By.LINK_TEXT, "Onboarding")
        link.send_keys("\n")
        _text(browser, "main h1", "Onboarding")

    await _in_browser(wrong_then_right)


async def test_a_run_shows_live_progress_and_filters_its_operations(
    browser: WebDriver, site: str, tokens: dict[ApiRole, str], client: httpx.AsyncClient,
    ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, queue: RecordingQueue,
) -> None:  # fmt: skip
    pipeline_id = await _company(client, ends, memory[1])

    def start_a_sync() -> None:
        _sign_in(browser, site, tokens[ApiRole.OPERATOR])
        _text(browser, "main h1", "Pipelines")
        browser.get(f"{site}/ui#/pipelines/{pipeline_id}")
        _wait(browser, ec.element_to_be_clickable((By.XPATH, "//button[text()='Sync now']"))).click()
        _text(browser, "#run-status", "queued")
        _shot(browser, "run-queued")

    await _in_browser(start_a_sync)
    await execute(queue.ids[-1])  # a worker takes the run while the page watches

    def watch_and_filter() -> None:
        _text(browser, "#run-status", "succeeded")
        _text(browser, "#run-counts", "3 people read, 8 of 8 operations applied")
        assert browser.find_element(By.ID, "ops-progress").get_attribute("value") == "8"
        assert "null" not in browser.find_element(By.TAG_NAME, "main").text
        Select(browser.find_element(By.ID, "op-kind")).select_by_visible_text("enrol")
        _wait(
            browser,
            lambda b: (
                {r.text.split()[2] for r in b.find_elements(By.CSS_SELECTOR, "#operations tbody tr")} == {"enrol"}
            ),
        )
        _shot(browser, "run-succeeded")

    await _in_browser(watch_and_filter)


async def test_an_operator_approves_a_blocked_run(
    browser: WebDriver, site: str, tokens: dict[ApiRole, str], client: httpx.AsyncClient,
    ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, queue: RecordingQueue,
) -> None:  # fmt: skip
    data = memory[1]
    pipeline_id = await _company(client, ends, data)
    await run(client, execute, pipeline_id)
    data.hris.remove("W2")  # deleted in HR: a leaver, and the guard allows no deactivation without approval
    blocked = await run(client, execute, pipeline_id)
    assert blocked["status"] == "blocked"

    def approve() -> None:
        _sign_in(browser, site, tokens[ApiRole.OPERATOR])
        _text(browser, "main h1", "Pipelines")
        browser.get(f"{site}/ui#/runs/{blocked['id']}")
        _text(browser, "#run-status", "blocked")
        _shot(browser, "run-blocked")
        _wait(browser, ec.element_to_be_clickable((By.XPATH, "//button[text()='Approve and apply']"))).click()
        _text(browser, "#status", "run approved")

    await _in_browser(approve)
    await execute(blocked["id"])
    await _in_browser(lambda: browser.refresh())
    await _in_browser(lambda: _text(browser, "#run-status", "succeeded"))
    assert not data.lms.accounts[
        next(a for a, acc in data.lms.accounts.items() if acc.fields.email == "w2@example.com")
    ].active


async def test_a_person_story_explains_each_rule(
    browser: WebDriver, site: str, tokens: dict[ApiRole, str], client: httpx.AsyncClient,
    ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute,
) -> None:  # fmt: skip
    pipeline_id = await _company(client, ends, memory[1])
    await run(client, execute, pipeline_id)

    def story() -> None:
        _sign_in(browser, site, tokens[ApiRole.VIEWER])
        _text(browser, "main h1", "Pipelines")
        browser.get(f"{site}/ui#/pipelines/{pipeline_id}")
        field = _wait(browser, ec.element_to_be_clickable((By.ID, "hr-id")))
        field.send_keys("W0\n")
        _text(browser, "main h1", "Ada Lee")
        _text(browser, "main", "in_sync")
        row = browser.find_element(By.XPATH, "//td[text()='everyone']/..")
        assert "yes" in row.text and "course C1" in row.text
        _shot(browser, "person-story")
        # Ada leads two people: her team view lists them with their enrolments.
        browser.find_element(By.PARTIAL_LINK_TEXT, "Team view (2 direct reports)").click()
        _text(browser, "main h1", "Team of W0")
        _text(browser, "main table", "Bo Lee")
        _text(browser, "main table", "Cy Lee")
        _shot(browser, "team")

    await _in_browser(story)


async def test_the_page_fits_a_phone(
    browser: WebDriver, site: str, tokens: dict[ApiRole, str], client: httpx.AsyncClient,
    ends: tuple[str, str], memory: tuple[str, Dataset],
) -> None:  # fmt: skip
    await _company(client, ends, memory[1])

    def phone() -> None:
        browser.set_window_size(390, 844)
        try:
            _sign_in(browser, site, tokens[ApiRole.VIEWER])
            _text(browser, "main table", "Onboarding")
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
            _shot(browser, "pipelines-phone")
        finally:
            browser.set_window_size(1280, 900)

    await _in_browser(phone)
