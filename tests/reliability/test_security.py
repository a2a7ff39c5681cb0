"""Security: a connection's base URL is validated through the API, API bodies have a size limit, no SQL is built
from strings, and the session-wide secret sweep (tests/conftest.py) notices a leak. Role x endpoint
authorization and token expiry, revocation and malformed tokens are covered in `tests/api/test_auth.py`;
response bodies per API test by `LeakGuard`.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from enrolsync.api.deps import Services
from enrolsync.api.limits import MAX_BODY_BYTES
from enrolsync.sync.store.tables import Connection
from tests.support.figures import Figures
from tests.support.leaks import LeakGuard, SecretSweep

SRC = Path(__file__).resolve().parents[2] / "src"


# -- base URLs ---------------------------------------------------------------------------------------------------

URLS = [
    ("https://lms.example.com/", 201),
    ("http://127.0.0.1:8080/", 201),  # on the test settings' local allow-list
    ("http://localhost/", 201),
    ("http://[::1]:5432/", 201),  # the bracket form of an allow-listed IPv6 address
    ("https://169.254.169.254/", 422),  # cloud metadata, for every scheme
    ("https://2852039166/", 422),  # the same address written as one number
    ("https://[fd00:ec2::254]/", 422),  # the IPv6 metadata address
    ("https://10.0.0.8/", 422),  # private, not allow-listed
    ("https://[::ffff:10.0.0.8]/", 422),  # the same, IPv4-mapped
    ("https://moodle.internal.test/", 422),  # a name resolving to a private address
    ("https://half.internal.test/", 422),  # one of its addresses is loopback
    ("https://unresolvable.invalid/", 201),  # reaches nothing now; the connect-time check guards it later
    ("http://lms.example.com/", 422),  # plain http to anything else
    ("http://10.0.0.8/", 422),
    ("ftp://lms.example.com/", 422),
    ("https://admin:s3cret-in-url@lms.example.com/", 422),  # credentials belong in the secret fields
    ("https://s3cret-user@lms.example.com/", 422),
    ("javascript:alert(1)", 422),
]


@pytest.mark.parametrize(("url", "status"), URLS)
async def test_a_connection_base_url_is_https_without_credentials(
    client: httpx.AsyncClient, app: FastAPI, url: str, status: int, leak_guard: LeakGuard
) -> None:
    body = {"name": "lms", "connector": "memory-target", "config": {"dataset": "urls", "base_url": url}}

    response = await client.post("/connections", json=body)

    assert response.status_code == status, response.text
    if status == 422:
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["path"] for e in response.json()["errors"]] == ["config.base_url"]
        assert "s3cret" not in response.text.lower()  # the URL's credentials are not echoed back
        services: Services = app.state.services
        async with services.sessions() as session:
            assert (await session.exec(select(Connection))).all() == []


@pytest.mark.parametrize("private_hosts", [[]])  # the process default: nothing allow-listed
async def test_without_an_allow_list_only_public_addresses_are_accepted(client: httpx.AsyncClient) -> None:
    for url, status in [
        ("https://127.0.0.1:5432/", 422),
        ("http://localhost/", 422),
        ("https://lms.example.com/", 201),
    ]:
        body = {"name": url, "connector": "memory-target", "config": {"dataset": "urls", "base_url": url}}
        created = await client.post("/connections", json=body)
        assert created.status_code == status, url
    # A saved public connection cannot be moved onto a name that resolves to the metadata address either.
    moved = await client.patch(
        f"/connections/{created.json()['id']}",
        json={"config": {"base_url": "https://metadata.internal.test/", "token": "t"}},
    )
    assert moved.status_code == 422 and moved.json()["errors"][0]["type"] == "unsafe_base_url"
    assert "169.254" not in moved.text  # the address a name resolves to is not told


async def test_a_base_url_cannot_be_changed_to_an_unsafe_one(client: httpx.AsyncClient) -> None:
    body = {"name": "lms", "connector": "memory-target", "config": {"dataset": "urls"}}
    created = (await client.post("/connections", json=body)).json()

    response = await client.patch(f"/connections/{created['id']}", json={"config": {"base_url": "http://evil.test/"}})

    assert response.status_code == 422 and response.json()["errors"][0]["type"] == "unsafe_base_url"
    assert (await client.get(f"/connections/{created['id']}")).json()["config"]["base_url"] == "http://memory.invalid/"


# -- body size limits ------------------------------------------------------------------------------------------


def _oversized() -> bytes:
    return json.dumps({"name": "big", "connector": "memory-target", "config": {"pad": "x" * MAX_BODY_BYTES}}).encode()


async def test_an_api_body_over_the_limit_is_refused_unread(client: httpx.AsyncClient, app: FastAPI) -> None:
    declared = await client.post("/connections", content=_oversized(), headers={"Content-Type": "application/json"})

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit counts what arrives
        body = _oversized()
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = await client.post("/connections", content=chunks(), headers={"Content-Type": "application/json"})
    anonymous = await client.post(
        "/pipelines", content=_oversized(), headers={"Content-Type": "application/json", "Authorization": ""}
    )

    for response in (declared, streamed, anonymous):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert str(MAX_BODY_BYTES) in response.json()["detail"]
    services: Services = app.state.services
    async with services.sessions() as session:
        assert (await session.exec(select(Connection))).all() == []


async def test_a_body_under_the_limit_reaches_the_handler(client: httpx.AsyncClient) -> None:
    body = {"name": "ok", "connector": "memory-target", "config": {"dataset": "d" * 100}}
    assert (await client.post("/connections", json=body)).status_code == 201


async def test_webhooks_keep_their_own_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/missing", content=b"x" * (MAX_BODY_BYTES + 1))
    # The body is read (within its cap) before the connection is looked up, so every refusal costs the same.
    assert response.status_code == 413


# -- SQL is never built from strings ---------------------------------------------------------------------------

SQL_CALLS = {"text", "execute", "exec", "exec_driver_sql", "executescript", "literal_column"}
# The few statements built from constants of our own, never from input: (file, the line's text).
ALLOWED = {
    ("sync/store/db.py", 'cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")'),  # an int constant
    ("sync/store/migrate.py", 'conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")'),
}


def _built(node: ast.expr) -> bool:
    """An f-string, `%` or `+` on strings, or `.format(...)`: text assembled at run time."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return any(isinstance(side, ast.Constant | ast.JoinedStr | ast.BinOp) for side in (node.left, node.right))
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join")


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def string_built_sql(root: Path) -> Iterator[tuple[str, int, str]]:
    """(file, line, source) of each SQL call whose statement is assembled from strings."""
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and _name(node) in SQL_CALLS and node.args and _built(node.args[0]):
                snippet = ast.get_source_segment(source, node) or ""
                relative = path.relative_to(root).as_posix()
                if (relative, snippet) not in ALLOWED:
                    yield relative, node.lineno, snippet


def test_no_sql_is_built_from_strings(figures: Figures) -> None:
    assert list(string_built_sql(SRC)) == []
    figures.add("security", files_scanned_for_sql=len(list(SRC.rglob("*.py"))))


def test_the_sql_check_notices_built_statements(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "import sqlalchemy as sa\n"
        "def f(session, name, n):\n"
        "    session.execute(sa.text(f\"SELECT * FROM person WHERE name = '{name}'\"))\n"
        '    session.exec_driver_sql("DELETE FROM run WHERE id = %s" % n)\n'
        '    session.execute(sa.text("SELECT " + name))\n'
        '    session.execute(sa.text("SELECT 1 WHERE a = :a"), {"a": name})\n'
    )
    assert sorted(line for _, line, _ in string_built_sql(tmp_path)) == [3, 4, 5]


# -- the session-wide secret sweep -------------------------------------------------------------------------------


def test_the_secret_sweep_notices_a_leak_in_a_log_line_or_an_output() -> None:
    sweep = SecretSweep(["s3cret", "fake-moodle-token"])
    args = ("wstoken=FAKE-MOODLE-TOKEN",)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "calling with %s", args, None)

    sweep.scan(f"{record.getMessage()} {record.args!r}", "log record x")
    sweep.scan("run r1 applied 3 ops", "Captured stdout call")
    sweep.scan('{"detail": "S3cret-Value"}', "Captured stderr call")

    found = sweep.take()
    assert len(found) == 2 and "log record x" in found[0] and "Captured stderr call" in found[1]
    assert sweep.take() == []
