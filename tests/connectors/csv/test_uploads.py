"""The csv source reading uploaded files (`origin: upload`) through the HTTP client the engine hands it, and the
check an upload passes before it is kept (`TextCheck`). The engine's real transport, serving the database, is
tested through the API (tests/api/test_uploads.py); here a transport serves bytes as it does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pydantic
import pytest

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.csv import CsvSource
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.uploads import TextCheck
from enrolsync.connectors.errors import Invalid, NotFound, TransientError
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.csv_exports import COLUMNS, HEADER, export, row

IDS = [str(100 + i) for i in range(5)]
BASE = "https://csv.invalid/"


class Uploads:
    """Serves `GET uploads/newest` as the engine's transport does: the bytes streamed, Content-Length declared."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.declared: int | None = None
        self.requests: list[httpx.Request] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method != "GET" or request.url.path != "/uploads/newest" or self.body is None:
            return httpx.Response(404)
        body = self.body

        async def stream() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 1000):
                yield body[start : start + 1000]

        length = str(len(body) if self.declared is None else self.declared)
        return httpx.Response(200, headers={"Content-Length": length}, content=stream())


@pytest.fixture
def uploads() -> Uploads:
    return Uploads()


def _config(**changes: object) -> CsvConfig:
    return CsvConfig.model_validate({"origin": "upload", "columns": COLUMNS, "page_size": 2, **changes})


@pytest.fixture
async def source(uploads: Uploads) -> AsyncIterator[CsvSource]:
    # As `build_client` makes it: the config's base URL, which the connector's relative path is resolved against.
    async with httpx.AsyncClient(transport=httpx.MockTransport(uploads.handler), base_url=BASE) as http:
        yield CsvSource(_config(), http, retry=ReadRetry(attempts=2, clock=FakeClock()))


async def _people(source: CsvSource, since: str | None = None) -> list[Person]:
    return [p async for page in source.read_persons(Cursor(since) if since else None) for p in page.items]


async def test_reads_the_newest_upload_as_it_reads_an_sftp_file(uploads: Uploads, source: CsvSource) -> None:
    uploads.body = export(IDS).encode()

    people = await _people(source)

    assert [p.hr_id for p in people] == IDS
    assert people[1].manager_hr_id == IDS[0] and people[1].work_email == f"p{IDS[1]}@example.com"
    assert (await source.check()).ok


async def test_an_upload_with_a_changed_header_is_refused_like_an_sftp_file(
    uploads: Uploads, source: CsvSource
) -> None:
    uploads.body = export(IDS).encode()
    checkpoint = [page.checkpoint async for page in source.read_persons(None)][-1]
    assert checkpoint is not None
    uploads.body = export(IDS, header=HEADER.replace("Email", "E-mail")).encode()

    with pytest.raises(Invalid, match="header changed"):
        await _people(source, checkpoint)


async def test_nothing_uploaded_yet_is_not_found_and_a_failed_check(uploads: Uploads, source: CsvSource) -> None:
    with pytest.raises(NotFound, match="no file has been uploaded"):
        await _people(source)

    result = await source.check()

    assert not result.ok and "no file has been uploaded" in result.detail


async def test_a_copy_cut_short_is_transient_never_a_short_file(uploads: Uploads, source: CsvSource) -> None:
    uploads.body = export(IDS).encode()
    uploads.declared = len(uploads.body) + 10  # the upload was pruned while it was read

    with pytest.raises(TransientError, match="cut short"):
        await _people(source)

    assert len(uploads.requests) == 2, "retried as a read is"


async def test_an_upload_over_max_file_bytes_is_refused(uploads: Uploads) -> None:
    uploads.body = export(IDS).encode()
    async with httpx.AsyncClient(transport=httpx.MockTransport(uploads.handler), base_url=BASE) as http:
        small = CsvSource(_config(max_file_bytes=100), http)
        with pytest.raises(Invalid, match="max_file_bytes"):
            await _people(small)


@pytest.mark.parametrize(
    "config",
    [
        {"url": "sftp://127.0.0.1/x.csv"},
        {"username": "hr"},
        {"password": "pw"},
        {"private_key_passphrase": "phrase"},
    ],
    ids=["url", "username", "password", "passphrase"],
)
def test_origin_upload_takes_no_sftp_settings(config: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError, match="origin `upload` takes no SFTP settings"):
        _config(**config)


def test_origin_sftp_needs_its_url_and_login() -> None:
    with pytest.raises(pydantic.ValidationError, match="origin `sftp` needs url and username"):
        CsvConfig.model_validate({"columns": COLUMNS, "password": "pw", "verify_host_key": False})


def _check(data: bytes, *, encoding: str | None = None, piece: int = 7) -> int:
    check = TextCheck(encoding=encoding)
    for start in range(0, len(data), piece):
        check.feed(data[start : start + piece])
    return check.finish()


@pytest.mark.parametrize(
    ("data", "encoding", "lines"),
    [
        (b"a,b\n1,2\n", None, 2),
        (b"a,b\r\n1,2\r\n3,4", None, 3),  # no line break after the last record
        ("a,b\n\u00e9,2\n".encode("utf-16"), None, 2),  # BOM: detected, counted in characters
        ("a,b\nRen\u00e9,2\n".encode("cp1252"), "cp1252", 2),
        (b"\xef\xbb\xbfa,b\n1,2\n", "utf-8", 2),  # a UTF-8 BOM with utf-8 configured
    ],
    ids=["lf", "crlf-unterminated", "utf16-bom", "cp1252", "utf8-bom"],
)
def test_text_in_the_encoding_a_run_uses_is_taken(data: bytes, encoding: str | None, lines: int) -> None:
    assert _check(data, encoding=encoding) == lines
    assert _check(data, encoding=encoding, piece=len(data) or 1) == lines, "however the body is cut"


@pytest.mark.parametrize(
    ("data", "encoding", "says"),
    [
        (b"", None, "empty"),
        (b"\r\n  \n", None, "empty"),
        (b"a,b\n1,\xc3", None, "not valid utf-8 (byte 6)"),  # cut inside a character
        # UTF-8 for the first 64 KiB (all detection looks at), then a cp1252 byte.
        (
            ("\n".join([HEADER, *(row(str(i)) for i in range(1500))]) + "\n").encode() + b"Ren\xe9\n",
            None,
            "not valid utf-8",
        ),
        (b"a,b\n\xff\n", "utf-8", "not valid utf-8"),
    ],
    ids=["empty", "blank", "cut-character", "late-cp1252", "configured-utf8"],
)
def test_what_a_run_could_not_read_is_refused(data: bytes, encoding: str | None, says: str) -> None:
    with pytest.raises(Invalid, match=says.replace("(", r"\(").replace(")", r"\)")):
        _check(data, encoding=encoding, piece=4096)
