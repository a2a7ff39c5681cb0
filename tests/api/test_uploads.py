"""`POST /connections/{id}/uploads`: a csv file streamed into the database, read by whichever worker runs the
pipeline (here: through an engine of its own, as another process would), refused whole when it is too large or
unreadable, and only the newest few kept."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from typer.testing import CliRunner

from enrolsync import cli_uploads
from enrolsync.api.auth import Principal
from enrolsync.api.deps import Services
from enrolsync.cli import app as cli_app
from enrolsync.connectors.csv import CsvSource
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.run.uploads import StoredUploadTransport
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.tables import ApiRole, PipelineHealth, Upload, UploadChunk, utcnow
from tests.support import harness
from tests.support.api import create_pipeline
from tests.support.assertions import assert_problem
from tests.support.csv_exports import COLUMNS, HEADER, export, row
from tests.support.harness import RecordingQueue, make_runtime

CSV = {"Content-Type": "text/csv"}
CLI = Principal(subject="cli", name="enrolsync upload", role=ApiRole.ADMIN)
IDS = [str(100 + i) for i in range(6)]


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI configures process-wide logging


@pytest.fixture
def registry() -> Registry:
    return Registry.from_classes(CsvSource, MemorySource, MemoryTarget)


@pytest.fixture
async def worker(app: FastAPI, settings: Settings) -> AsyncIterator[Runtime]:
    """What another worker process executes runs with: its own engine on the same database (it shares nothing
    with the API's process but the database), uploads served from there as `open_root` sets it up."""
    services: Services = app.state.services
    engine = make_async_engine(settings.resolved_database_url())
    sessions = session_factory(engine)
    rt = make_runtime(sessions, services.registry, services.box, clock=FakeClock())
    rt.clients.stored["csv"] = partial(StoredUploadTransport, sessions)
    yield rt
    await engine.dispose()


async def _connection(client: httpx.AsyncClient, **config: Any) -> str:
    body = {"name": "HR upload", "connector": "csv", "config": {"origin": "upload", "columns": COLUMNS, **config}}
    created = await client.post("/connections", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _pipeline(client: httpx.AsyncClient, memory: tuple[str, Dataset], source_id: str) -> str:
    body = {"name": "LMS", "connector": "memory-target", "config": {"dataset": memory[0]}}
    target = await client.post("/connections", json=body)
    assert target.status_code == 201, target.text
    return await create_pipeline(client, (source_id, target.json()["id"]))


async def _stored(session: AsyncSession) -> tuple[int, int]:
    uploads = (await session.exec(select(func.count()).select_from(Upload))).one()
    chunks = (await session.exec(select(func.count()).select_from(UploadChunk))).one()
    return uploads, chunks


def _active(data: Dataset) -> set[str]:
    return {a.fields.external_id or "" for a in data.lms.accounts.values() if a.active}


async def test_an_upload_starts_a_run_that_another_worker_reads_into_the_target(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], queue: RecordingQueue, worker: Runtime
) -> None:
    source_id = await _connection(client)
    pipeline_id = await _pipeline(client, memory, source_id)
    body = export(IDS).encode()

    answer = await client.post(f"/connections/{source_id}/uploads?filename=people.csv", content=body, headers=CSV)

    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert receipt["size"] == len(body) and receipt["sha256"] == hashlib.sha256(body).hexdigest()
    assert receipt["rows_estimate"] == len(IDS) and receipt["filename"] == "people.csv"
    assert receipt["run_requested"] is True
    [asked] = receipt["runs"]
    assert asked["pipeline_id"] == pipeline_id and asked["created"] and queue.ids == [asked["run_id"]]

    assert await harness.execute(worker, asked["run_id"]) == "succeeded"

    run = (await client.get(f"/runs/{asked['run_id']}")).json()
    assert run["trigger"] == "upload" and run["scope"] == "full" and run["progress"]["people_read"] == len(IDS)
    assert _active(memory[1]) == set(IDS)


async def test_a_file_whose_header_changed_is_refused_on_its_run(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], worker: Runtime
) -> None:
    source_id = await _connection(client)
    await _pipeline(client, memory, source_id)
    first = await client.post(f"/connections/{source_id}/uploads", content=export(IDS).encode(), headers=CSV)
    assert await harness.execute(worker, first.json()["runs"][0]["run_id"]) == "succeeded"
    renamed = export(IDS[:-1], header=HEADER.replace("Email", "E-mail")).encode()

    second = await client.post(f"/connections/{source_id}/uploads", content=renamed, headers=CSV)

    run_id = second.json()["runs"][0]["run_id"]
    assert await harness.execute(worker, run_id) == "failed"
    run = (await client.get(f"/runs/{run_id}")).json()
    assert "header changed" in run["error"] and "'E-mail'" in run["error"], run["error"]
    assert _active(memory[1]) == set(IDS), "a refused file syncs nothing: nobody left"


async def test_a_second_engine_reads_back_every_byte_of_a_large_upload(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    source_id = await _connection(client)
    # Over a megabyte: several stored chunks, read back in order.
    body = export([str(10_000 + i) for i in range(12_000)]).encode()
    assert len(body) > 1024 * 1024

    answer = await client.post(f"/connections/{source_id}/uploads", content=body, headers=CSV)

    assert answer.status_code == 201, answer.text
    assert answer.json()["run_requested"] is False and answer.json()["runs"] == []
    engine = make_async_engine(settings.resolved_database_url())
    try:
        transport = StoredUploadTransport(session_factory(engine), source_id)
        async with httpx.AsyncClient(transport=transport, base_url="https://csv.invalid/") as http:
            read = await http.get("uploads/newest")
    finally:
        await engine.dispose()
    assert read.status_code == 200 and read.content == body


async def _gen(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_oversize_upload_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], queue: RecordingQueue, session: AsyncSession,
    declared: bool,
) -> None:  # fmt: skip
    source_id = await _connection(client, max_file_bytes=1000)
    await _pipeline(client, memory, source_id)
    body = export(IDS * 10).encode()
    assert len(body) > 1000
    content = body if declared else _gen(body[:600], body[600:])

    answer = await client.post(f"/connections/{source_id}/uploads", content=content, headers=CSV)

    assert "1000 bytes" in assert_problem(answer, 413)["detail"]
    assert await _stored(session) == (0, 0)
    assert queue.ids == [], "no run for a refused file"
    assert (await client.get(f"/connections/{source_id}/uploads")).json()["items"] == []


# UTF-8 for the first 64 KiB (what detection looks at), then a cp1252 byte: a run could not read it.
LATE_CP1252 = (HEADER + "\n" + "\n".join(row(str(i)) for i in range(1000, 2000)) + "\n").encode() + row(
    "2000", given="Ren\xe9"
).encode("cp1252")


@pytest.mark.parametrize(
    ("content", "media", "config", "status", "says"),
    [
        (b"", "text/csv", {}, 422, "empty"),
        (b" \r\n\r\n", "text/csv", {}, 422, "empty"),
        (export(IDS).encode(), "text/plain", {}, 415, "text/csv"),
        (export(IDS).encode(), "application/json", {}, 415, "text/csv"),
        (LATE_CP1252, "text/csv", {}, 422, "not valid utf-8"),
        (b"\xff\xfe" + export(IDS).encode("utf-16-le"), "text/csv", {"encoding": "utf-8"}, 422, "not valid utf-8"),
    ],
    ids=["empty", "blank", "text-plain", "json", "late-cp1252", "utf16-as-utf8"],
)
async def test_unusable_input_is_a_problem_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, queue: RecordingQueue,
    content: bytes, media: str, config: dict[str, Any], status: int, says: str,
) -> None:  # fmt: skip
    source_id = await _connection(client, **config)

    answer = await client.post(f"/connections/{source_id}/uploads", content=content, headers={"Content-Type": media})

    assert says in assert_problem(answer, status)["detail"]
    assert await _stored(session) == (0, 0) and queue.ids == []


async def test_a_file_in_a_detected_or_configured_encoding_is_taken(client: httpx.AsyncClient) -> None:
    utf16 = await _connection(client)
    answer = await client.post(f"/connections/{utf16}/uploads", content=export(IDS).encode("utf-16"), headers=CSV)
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows_estimate"] == len(IDS), "lines are counted in the text, not the bytes"
    await client.delete(f"/connections/{utf16}")
    cp1252 = await _connection(client, encoding="cp1252")
    answer = await client.post(f"/connections/{cp1252}/uploads", content=LATE_CP1252, headers=CSV)
    assert answer.status_code == 201, answer.text


async def test_only_the_newest_uploads_are_kept(client: httpx.AsyncClient, session: AsyncSession) -> None:
    source_id = await _connection(client)
    sent = []
    for n in range(5):
        answer = await client.post(f"/connections/{source_id}/uploads", content=export(IDS[: n + 1]).encode(),
                                   headers=CSV)  # fmt: skip
        assert answer.status_code == 201, answer.text
        sent.append(answer.json())

    listed = (await client.get(f"/connections/{source_id}/uploads")).json()["items"]

    assert [u["id"] for u in listed] == [u["id"] for u in reversed(sent[2:])], "newest first, three kept"
    assert [u["pruned"] for u in sent] == [0, 0, 0, 1, 1]
    assert set(listed[0]) >= {"size", "sha256", "rows_estimate", "filename", "uploaded_by"}
    assert "data" not in listed[0]
    assert await _stored(session) == (3, 3)


async def test_uploads_go_with_their_connection(client: httpx.AsyncClient, session: AsyncSession) -> None:
    source_id = await _connection(client)
    await client.post(f"/connections/{source_id}/uploads", content=export(IDS).encode(), headers=CSV)

    assert (await client.delete(f"/connections/{source_id}")).status_code == 204

    assert await _stored(session) == (0, 0)


async def test_only_a_csv_connection_of_origin_upload_takes_files(
    client: httpx.AsyncClient, memory: tuple[str, Dataset]
) -> None:
    body = {"name": "HR", "connector": "memory-source", "config": {"dataset": memory[0]}}
    other = (await client.post("/connections", json=body)).json()["id"]
    sftp = {
        "url": "sftp://127.0.0.1/exports/people.csv", "username": "hr", "password": "s3cret-Value-4711",
        "verify_host_key": False, "columns": COLUMNS,
    }  # fmt: skip
    created = await client.post("/connections", json={"name": "HR sftp", "connector": "csv", "config": sftp})
    assert created.status_code == 201, created.text
    content = export(IDS).encode()

    not_csv = await client.post(f"/connections/{other}/uploads", content=content, headers=CSV)
    over_sftp = await client.post(f"/connections/{created.json()['id']}/uploads", content=content, headers=CSV)
    missing = await client.post("/connections/nope/uploads", content=content, headers=CSV)

    assert "memory-source" in assert_problem(not_csv, 409)["detail"]
    assert "origin" in assert_problem(over_sftp, 409)["detail"]
    assert_problem(missing, 404)
    assert_problem(await client.get(f"/connections/{other}/uploads"), 409)


async def test_an_upload_to_origin_upload_takes_no_sftp_settings(client: httpx.AsyncClient) -> None:
    body = {"origin": "upload", "columns": COLUMNS, "url": "sftp://127.0.0.1/x.csv"}
    answer = await client.post("/connections", json={"name": "HR", "connector": "csv", "config": body})
    assert "no SFTP settings (url)" in assert_problem(answer, 422)["detail"] + str(answer.json()["errors"])


async def test_the_cli_streams_a_file_into_the_same_uploads(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], settings: Settings, tmp_path: Path, worker: Runtime
) -> None:
    source_id = await _connection(client)
    await _pipeline(client, memory, source_id)
    path = tmp_path / "people.csv"
    path.write_bytes(export(IDS).encode())
    queue = RecordingQueue()

    received = await cli_uploads.upload(settings, "HR upload", path, queue=queue, principal=CLI)

    [asked] = received.runs
    assert asked.created and queue.ids == [asked.run_id]
    [listed] = (await client.get(f"/connections/{source_id}/uploads")).json()["items"]
    assert (listed["id"], listed["filename"], listed["uploaded_by"]) == (received.upload.id, "people.csv", "cli")
    assert asked.run_id is not None and await harness.execute(worker, asked.run_id) == "succeeded"
    assert _active(memory[1]) == set(IDS)


async def test_the_cli_says_in_one_line_why_a_file_is_not_taken(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await _connection(client, max_file_bytes=100)
    path = tmp_path / "people.csv"
    path.write_bytes(export(IDS).encode())
    keys = ",".join(f'"{k.get_secret_value()}"' for k in settings.secret_keys)
    env = {
        "DATABASE_URL": settings.resolved_database_url(),
        "ENROLSYNC_DATA_DIR": str(settings.data_dir),
        "ENROLSYNC_SECRET_KEYS": f"[{keys}]",
    }

    for ref, says in (("nope", "no connection with id or name 'nope'"), ("HR upload", "larger than 100 bytes")):
        result = await asyncio.to_thread(CliRunner().invoke, cli_app, ["upload", ref, str(path)], env=env)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("enrolsync: error: ") and says in lines[0], lines


async def test_a_form_with_one_file_field_is_taken_as_curl_f_sends_it(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], queue: RecordingQueue
) -> None:
    source_id = await _connection(client)
    await _pipeline(client, memory, source_id)
    body = export(IDS).encode()

    answer = await client.post(
        f"/connections/{source_id}/uploads",
        files={"file": ("people.csv", body, "application/vnd.ms-excel")},  # what Windows browsers call a .csv
        data={"note": "December"},
    )

    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert (receipt["filename"], receipt["content_type"]) == ("people.csv", "application/vnd.ms-excel")
    assert receipt["size"] == len(body) and receipt["sha256"] == hashlib.sha256(body).hexdigest()
    assert receipt["run_requested"] and queue.ids == [receipt["runs"][0]["run_id"]]


BOUNDARY = "x-enrolsync-test"


def _form(*parts: tuple[str, str | None, bytes], closed: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        (_form(("a", "a.csv", b"x,y\n1,2\n"), ("b", "b.csv", b"x,y\n1,2\n")), 400, "one file per upload"),
        (_form(("note", None, b"hello")), 400, "no file field"),
        (_form(("file", "p.csv", export(IDS).encode()), closed=False), 400, "closing boundary"),
        (_form(("file", "p.csv", export(IDS * 10).encode())), 413, "1000 bytes"),
        (b"--" + BOUNDARY.encode() + b"\r\nthis is no header\r\n\r\n", 400, "not a valid multipart"),
    ],
    ids=["two-files", "no-file", "cut-short", "too-large", "garbled"],
)
async def test_a_form_that_is_not_one_whole_file_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, form: bytes, status: int, says: str
) -> None:
    source_id = await _connection(client, max_file_bytes=1000)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    answer = await client.post(f"/connections/{source_id}/uploads", content=_gen(form), headers=headers)

    assert says in assert_problem(answer, status)["detail"]
    assert await _stored(session) == (0, 0)


async def test_the_check_reads_the_newest_upload_as_the_service_wires_it(client: httpx.AsyncClient) -> None:
    source_id = await _connection(client)
    before = (await client.post(f"/connections/{source_id}/check")).json()
    await client.post(f"/connections/{source_id}/uploads", content=export(IDS).encode(), headers=CSV)
    missing_column = export(IDS, header=HEADER.replace("Email", "E-mail")).encode()

    after = (await client.post(f"/connections/{source_id}/check")).json()
    await client.post(f"/connections/{source_id}/uploads", content=missing_column, headers=CSV)
    newest = (await client.post(f"/connections/{source_id}/check")).json()

    assert not before["ok"] and "no file has been uploaded" in before["detail"]
    assert after["ok"] and "the newest upload" in after["detail"], after
    assert not newest["ok"] and "Email" in newest["detail"], newest


async def test_a_quarantined_pipeline_gets_no_run_and_says_why(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], session: AsyncSession, queue: RecordingQueue
) -> None:
    source_id = await _connection(client)
    pipeline_id = await _pipeline(client, memory, source_id)
    session.add(PipelineHealth(pipeline_id=pipeline_id, failures=3, quarantined_at=utcnow(), reason="AuthError: 401"))
    await session.commit()

    answer = await client.post(f"/connections/{source_id}/uploads", content=export(IDS).encode(), headers=CSV)

    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    [held] = receipt["runs"]
    assert receipt["run_requested"] is False and held["run_id"] is None and "quarantined" in held["held"], held
    assert queue.ids == []
    assert [u["id"] for u in (await client.get(f"/connections/{source_id}/uploads")).json()["items"]] == [receipt["id"]]


async def test_an_sftp_connection_is_switched_to_uploads_by_clearing_its_sftp_settings(
    client: httpx.AsyncClient,
) -> None:
    sftp = {
        "url": "sftp://127.0.0.1/exports/people.csv", "username": "hr", "password": "s3cret-Value-4711",
        "verify_host_key": False, "columns": COLUMNS,
    }  # fmt: skip
    created = (await client.post("/connections", json={"name": "HR", "connector": "csv", "config": sftp})).json()
    cleared = {"origin": "upload", "url": None, "username": None, "password": None}

    patched = await client.patch(f"/connections/{created['id']}", json={"config": cleared})

    assert patched.status_code == 200, patched.text
    assert patched.json()["secrets_set"] == []
    answer = await client.post(f"/connections/{created['id']}/uploads", content=export(IDS).encode(), headers=CSV)
    assert answer.status_code == 201, answer.text
