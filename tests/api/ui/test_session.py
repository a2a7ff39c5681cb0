"""The web page's session without a browser: the cookie's flags, CSRF and origin checks, where sign-in may send
you, a revoked token, and HTML answers for refusals under /ui while the API keeps its problem documents."""

from __future__ import annotations

import httpx
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.tokens import revoke_token
from enrolsync.api.ui.session import COOKIE, csrf_token
from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.store.tables import ApiRole, ApiToken, PipelineHealth, utcnow
from tests.support.api import Execute, MakeClient, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import employee as person
from tests.support.factories import seed

SECRET = "s3cret-Value-4711"  # holds the leak guard's marker


def signed_in(make_client: MakeClient, token: str) -> httpx.AsyncClient:
    client = make_client(None)
    client.headers["Cookie"] = f"{COOKIE}={token}"
    return client


async def test_signing_in_sets_an_httponly_strict_cookie_and_goes_where_it_was_asked(
    make_client: MakeClient, tokens: dict[ApiRole, str]
) -> None:
    browser = make_client(None)
    response = await browser.post("/ui/sign-in", data={"token": tokens[ApiRole.VIEWER], "next": "/ui/connections"})

    assert (response.status_code, response.headers["location"]) == (303, "/ui/connections")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags
    assert "secure" not in flags  # plain http here; over https the cookie is Secure


async def test_sign_in_never_sends_you_to_another_site(make_client: MakeClient, tokens: dict[ApiRole, str]) -> None:
    browser = make_client(None)
    for target in ("https://evil.example/ui", "//evil.example/ui", "/ui\\..\\evil", "/docs"):
        response = await browser.post("/ui/sign-in", data={"token": tokens[ApiRole.VIEWER], "next": target})
        assert response.headers["location"] == "/ui", target


async def test_another_site_cannot_sign_you_in(make_client: MakeClient, tokens: dict[ApiRole, str]) -> None:
    form = {"token": tokens[ApiRole.VIEWER]}
    response = await make_client(None).post("/ui/sign-in", data=form, headers={"Origin": "https://evil.example"})

    assert response.status_code == 403 and "set-cookie" not in response.headers


async def test_a_refused_token_is_a_401_page_that_does_not_repeat_it(make_client: MakeClient) -> None:
    wrong = "esk_" + "y" * 43
    response = await make_client(None).post("/ui/sign-in", data={"token": wrong})

    assert response.status_code == 401
    assert "not known" in response.text and wrong not in response.text
    assert "set-cookie" not in response.headers


async def test_a_form_without_the_sessions_csrf_field_or_from_another_origin_changes_nothing(
    make_client: MakeClient, tokens: dict[ApiRole, str], client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    pid = await create_pipeline(client, ends)
    run_id = (await client.post(f"/pipelines/{pid}/runs")).json()["id"]
    operator = signed_in(make_client, tokens[ApiRole.OPERATOR])
    good = csrf_token(tokens[ApiRole.OPERATOR])

    assert (await operator.post(f"/ui/runs/{run_id}/cancel", data={})).status_code == 403
    assert (await operator.post(f"/ui/runs/{run_id}/cancel", data={"csrf": csrf_token("another")})).status_code == 403
    foreign = await operator.post(
        f"/ui/runs/{run_id}/cancel", data={"csrf": good}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "another site" in foreign.text
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "queued"

    same = await operator.post(
        f"/ui/runs/{run_id}/cancel", data={"csrf": good}, headers={"Origin": "http://enrolsync.test"}
    )
    assert (same.status_code, same.headers["location"]) == (303, f"/ui/runs/{run_id}")
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "cancelled"


async def test_a_revoked_token_signs_the_page_out(
    make_client: MakeClient, tokens: dict[ApiRole, str], session: AsyncSession
) -> None:
    viewer = signed_in(make_client, tokens[ApiRole.VIEWER])
    page = await viewer.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for row in (await session.exec(select(ApiToken))).all():
        await revoke_token(session, token_id=row.id)
    await session.commit()

    again = await viewer.get("/ui/connections")

    assert (again.status_code, again.headers["location"]) == (303, "/ui/sign-in?next=/ui/connections")


async def test_refusals_are_pages_under_ui_and_problem_documents_elsewhere(
    make_client: MakeClient, tokens: dict[ApiRole, str], client: httpx.AsyncClient
) -> None:
    viewer = signed_in(make_client, tokens[ApiRole.VIEWER])

    missing = await viewer.get("/ui/runs/nope")

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "no run with id" in missing.text.lower() or "nope" in missing.text
    assert_problem(await client.get("/runs/nope"), 404)
    assert (await viewer.get("/ui/static/ui.css")).headers["content-type"].startswith("text/css")


async def test_a_quarantined_pipeline_refuses_a_run_on_the_page_until_an_operator_lifts_it(
    make_client: MakeClient,
    tokens: dict[ApiRole, str],
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    session: AsyncSession,
) -> None:
    pid = await create_pipeline(client, ends)
    session.add(PipelineHealth(pipeline_id=pid, failures=3, quarantined_at=utcnow(), reason="LMS said 401"))
    await session.commit()
    operator = signed_in(make_client, tokens[ApiRole.OPERATOR])
    form = {"csrf": csrf_token(tokens[ApiRole.OPERATOR]), "mode": "apply"}

    refused = await operator.post(f"/ui/pipelines/{pid}/runs", data=form)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("text/html")
    assert "LMS said 401" in refused.text
    assert "Lift the quarantine" in (await operator.get(f"/ui/pipelines/{pid}")).text

    lifted = await operator.post(f"/ui/pipelines/{pid}/quarantine/lift", data=form)
    assert (lifted.status_code, lifted.headers["location"]) == (303, f"/ui/pipelines/{pid}")
    started = await operator.post(f"/ui/pipelines/{pid}/runs", data=form)
    assert started.status_code == 303 and started.headers["location"].startswith("/ui/runs/")
    run = (await client.get(started.headers["location"].removeprefix("/ui"))).json()
    assert (run["mode"], run["status"]) == ("apply", "queued")


async def test_the_connections_page_names_secrets_but_never_shows_them(
    make_client: MakeClient, tokens: dict[ApiRole, str], client: httpx.AsyncClient
) -> None:
    config = {"base_url": "https://hr.example.com", "subdomain": "acme", "api_key": SECRET}
    created = await client.post("/connections", json={"name": "hr", "connector": "strict-source", "config": config})
    assert created.status_code == 201, created.text
    ident = created.json()["id"]

    for role in ApiRole:  # the leak guard fails the test if the secret is in any of these answers
        page = await signed_in(make_client, tokens[role]).get("/ui/connections")
        if role is ApiRole.MANAGER:  # a manager reads their own team's views, nothing else
            assert page.status_code == 403
            continue
        assert page.status_code == 200
        assert "api_key" in page.text and "acme" in page.text
        assert f"/webhooks/{ident}" in page.text
        assert ("Check hr" in page.text) is (role is ApiRole.ADMIN)
    assert SECRET not in page.text


async def test_names_from_hr_and_admins_are_escaped(
    make_client: MakeClient, tokens: dict[ApiRole, str], client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    await create_pipeline(client, ends, name="<script>alert(1)</script>")

    page = await signed_in(make_client, tokens[ApiRole.VIEWER]).get("/ui")

    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_an_operator_applies_a_reviewed_dry_run_from_its_page(
    make_client: MakeClient,
    tokens: dict[ApiRole, str],
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
) -> None:
    _, data = memory
    seed(data, person("E1"))
    pid = await create_pipeline(client, ends)
    plan = await run(client, execute, pid, mode="plan")
    operator = signed_in(make_client, tokens[ApiRole.OPERATOR])
    assert "Apply this plan" in (await operator.get(f"/ui/runs/{plan['id']}")).text
    viewer = signed_in(make_client, tokens[ApiRole.VIEWER])
    assert "Apply this plan" not in (await viewer.get(f"/ui/runs/{plan['id']}")).text

    applied = await operator.post(f"/ui/runs/{plan['id']}/apply", data={"csrf": csrf_token(tokens[ApiRole.OPERATOR])})

    assert applied.status_code == 303
    new_id = applied.headers["location"].removeprefix("/ui/runs/")
    assert (await client.get(f"/runs/{new_id}")).json()["plan_run_id"] == plan["id"]
    assert f"dry run {plan['id']}" in (await operator.get(applied.headers["location"])).text


async def test_signing_in_returns_to_the_page_asked_for_with_its_filters(
    make_client: MakeClient, tokens: dict[ApiRole, str]
) -> None:
    browser = make_client(None)
    bounced = await browser.get("/ui/runs/r1", params={"kind": "create_user", "status": "failed"})
    assert bounced.headers["location"] == "/ui/sign-in?next=/ui/runs/r1%3Fkind%3Dcreate_user%26status%3Dfailed"

    form = await browser.get(bounced.headers["location"])
    assert 'value="/ui/runs/r1?kind=create_user&amp;status=failed"' in form.text
    signed_in = await browser.post("/ui/sign-in", data={"token": tokens[ApiRole.VIEWER], "next": "/ui/runs/r1?kind=x"})
    assert signed_in.headers["location"] == "/ui/runs/r1?kind=x"
