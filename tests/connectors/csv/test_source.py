"""The csv source against a real SFTP server on loopback: logins, host keys, reading and refusing files."""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable
from datetime import date
from importlib.metadata import entry_points

import asyncssh
import pydantic
import pytest
from pydantic import SecretStr

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.csv import CsvSource
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.fake import SftpExportServer
from enrolsync.connectors.errors import AuthError, Invalid, NotFound, PermanentError, TransientError
from enrolsync.connectors.model import Page, Person, PersonStatus, Rejected
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.csv_exports import HEADER, PASSWORD, export, row

IDS = [str(100 + i) for i in range(8)]
Config = Callable[..., CsvConfig]
Connect = Callable[[CsvConfig], CsvSource]


async def read(source: CsvSource, since: str | None = None) -> tuple[list[Person], list[Rejected], list[Page[Person]]]:
    pages = [page async for page in source.read_persons(Cursor(since) if since else None)]
    return [p for page in pages for p in page.items], [r for page in pages for r in page.rejected], pages


async def test_reads_everyone_in_pages_with_the_mapped_fields(server: SftpExportServer, source: CsvSource) -> None:
    server.write("exports/people.csv", export(IDS))

    persons, rejected, pages = await read(source)

    assert [p.hr_id for p in persons] == IDS and not rejected
    assert len(pages) == 3, "8 people in pages of 3"
    assert len({page.checkpoint for page in pages}) == 1 and pages[-1].checkpoint
    second = persons[1]
    assert (second.given_name, second.family_name, second.work_email) == ("Given101", "Family101", "p101@example.com")
    assert second.manager_hr_id == "100" and persons[0].manager_hr_id is None
    assert second.department == "Sales" and second.hire_date == date(2020, 1, 15)
    assert second.custom == {"cost_centre": "CC-101"}
    assert set(server.logins) == {("hr-export", "publickey", True)}, "one key login (asyncssh asks twice per key)"


async def test_password_login(server: SftpExportServer, make_config: Config, connect: Connect) -> None:
    server.write("exports/people.csv", export(IDS))
    source = connect(make_config(username="hr-pw", private_key=None, password=PASSWORD))

    persons, _, _ = await read(source)

    assert len(persons) == len(IDS)
    assert ("hr-pw", "password", True) in server.logins


async def test_known_hosts_line_is_trusted(server: SftpExportServer, make_config: Config, connect: Connect) -> None:
    server.write("exports/people.csv", export(IDS))
    source = connect(make_config(host_key=None, known_hosts=server.known_hosts_line + "\n"))

    assert (await source.check()).ok


async def test_an_unknown_host_key_is_refused_before_logging_in(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    source = connect(make_config(host_key=impostor))

    result = await source.check()
    with pytest.raises(PermanentError, match="host key"):
        await read(source)

    assert not result.ok and "host key" in result.detail
    assert server.logins == [], "no credential was offered to a server whose key is not trusted"


def test_host_key_checking_is_on_by_default(make_config: Config) -> None:
    with pytest.raises(pydantic.ValidationError, match="known_hosts or host_key"):
        make_config(host_key=None)
    with pytest.raises(pydantic.ValidationError, match="not a public key"):
        make_config(host_key="ssh-ed25519 not-base64")
    with pytest.raises(pydantic.ValidationError, match="line 1 is not a known_hosts line"):
        make_config(host_key=None, known_hosts="[127.0.0.1]:22 ssh-ed25519 AAAAbroken")
    assert make_config(host_key=None, verify_host_key=False).verify_host_key is False


async def test_a_wrong_password_is_an_auth_error_and_a_failed_check(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    source = connect(make_config(username="hr-pw", private_key=None, password="not-the-password-77"))

    result = await source.check()
    with pytest.raises(AuthError) as raised:
        await read(source)

    assert not result.ok
    assert "not-the-password-77" not in result.detail and "not-the-password-77" not in str(raised.value)


async def test_an_unreachable_server_is_transient_and_retried(
    make_config: Config, connect: Connect, clock: FakeClock
) -> None:
    config = make_config(url="sftp://127.0.0.1:9/exports/people.csv")  # discard port: nothing listens
    with pytest.raises(TransientError):
        await read(connect(config))
    assert len(clock.sleeps) == 1, "retried once (attempts=2) through the injected clock"


async def test_a_missing_file_is_not_found(server: SftpExportServer, source: CsvSource) -> None:
    with pytest.raises(NotFound):
        await read(source)
    assert not (await source.check()).ok


async def test_a_pattern_reads_the_newest_matching_file(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    import os

    old = server.write("exports/people-2026-11-30.csv", export(IDS[:2]))
    new = server.write("exports/people-2026-12-01.csv", export(IDS[:5]))
    server.write("exports/other-2026-12-02.csv", export(IDS[:1]))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))

    persons, _, _ = await read(connect(make_config(url=server.url("exports/people-*.csv"))))

    assert [p.hr_id for p in persons] == IDS[:5]


async def test_encoding_bom_delimiter_and_quoted_fields_are_handled(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    text = (
        "Employee ID;First name;Last name;Email;Status;Department;Manager ID;Hire date;Termination date;Cost center\r\n"
        '1;José;"Müller; Jr.";jose@example.com;Active;"R&D\r\nLab";;2020-01-15;;CC\r\n'
        '2;"Zoë ""Z""";Ødegård;zoe@example.com;On leave;Ops;1;2021-02-01;;CC\r\n'
    )
    server.write("exports/cp1252.csv", text, encoding="cp1252")
    server.write("exports/bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    server.write("exports/utf16.csv", text, encoding="utf-16")

    for name in ("cp1252.csv", "bom.csv", "utf16.csv"):
        persons, rejected, _ = await read(connect(make_config(url=server.url(f"exports/{name}"))))
        assert not rejected, name
        assert [(p.given_name, p.family_name) for p in persons] == [("José", "Müller; Jr."), ('Zoë "Z"', "Ødegård")]
        assert persons[0].department == "R&D\r\nLab" and persons[1].status is PersonStatus.LEAVE


async def test_bad_rows_are_reported_by_line_and_field_and_the_rest_goes_through(
    server: SftpExportServer, source: CsvSource
) -> None:
    lines = [
        HEADER,
        row("100"),
        row("101", email="not-an-email"),
        row("", given="Nameless"),
        row("103", status="Sabbatical"),
        row("104", end="31/12/2026"),
        row("100"),  # the same id again
        "105,too,few",
        row("106", manager="106"),
        row("107"),
    ]
    server.write("exports/people.csv", "\n".join(lines) + "\n")

    persons, rejected, _ = await read(source)

    assert [p.hr_id for p in persons] == ["100", "107"]
    assert [(r.line, r.field, r.hr_id) for r in rejected] == [
        (3, "work_email", "101"),
        (4, "hr_id", None),
        (5, "status", "103"),
        (6, "termination_date", "104"),
        (7, "hr_id", "100"),
        (8, None, "105"),
        (9, "manager_hr_id", "106"),
    ]
    assert rejected[4].reason == "also on line 2"
    assert rejected[0].reason == "not an email address" and rejected[5].reason == "has 3 fields, the header 10"
    assert "not-an-email" not in " ".join(r.reason for r in rejected), "reasons never quote the value"


async def test_status_values_and_past_termination_dates(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write(
        "exports/people.csv",
        "\n".join([HEADER, row("1", status="Sabbatical"), row("2", status="", end="2020-06-30"), row("3", status="")]),
    )
    source = connect(make_config(status_values={"sabbatical": "leave"}))

    persons, rejected, _ = await read(source)

    assert not rejected
    assert [p.status for p in persons] == [PersonStatus.LEAVE, PersonStatus.TERMINATED, PersonStatus.ACTIVE]


async def test_a_changed_header_is_refused_with_the_reason(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    _, _, pages = await read(connect(make_config()))
    accepted = pages[-1].checkpoint
    changed = HEADER.replace("Department", "Dept") + ",Badge"
    server.write("exports/people.csv", "\n".join([changed] + [row(i) + ",B" for i in IDS]))

    with pytest.raises(Invalid) as refused:
        await read(connect(make_config()), accepted)

    reason = str(refused.value)
    assert "header changed" in reason and "'Dept'" in reason and "'Badge'" in reason and "'Department'" in reason
    assert "accept_revision" in reason
    # The admin accepts it by raising the revision (the mapping must name the new column, or the file cannot map).
    columns = {**make_config().columns.model_dump(exclude_none=True), "department": "Dept"}
    persons, _, _ = await read(connect(make_config(columns=columns, accept_revision=1)), accepted)
    assert len(persons) == len(IDS)


async def test_a_sharp_drop_in_rows_is_refused(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    _, _, pages = await read(connect(make_config()))
    accepted = pages[-1].checkpoint
    server.write("exports/people.csv", export(IDS[:6]))  # 25% fewer

    with pytest.raises(Invalid, match=r"6 rows, 25% fewer than the 8 .* truncated"):
        await read(connect(make_config()), accepted)

    persons, _, _ = await read(connect(make_config(max_row_drop=0.3)), accepted)
    assert len(persons) == 6, "a drop within the configured tolerance goes through"
    server.write("exports/people.csv", export(IDS[:7]))  # 12.5% fewer: within the default fifth
    persons, _, _ = await read(connect(make_config()), accepted)
    assert len(persons) == 7


async def test_a_file_cut_inside_a_quoted_field_is_refused(server: SftpExportServer, source: CsvSource) -> None:
    server.write("exports/people.csv", export(IDS) + '200,"Unfinished')

    with pytest.raises(Invalid, match="could not be read as CSV"):
        await read(source)


async def test_missing_configured_columns_are_named(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    source = connect(make_config(custom={"badge": "Badge number"}))

    with pytest.raises(Invalid, match="'Badge number' \\(custom.badge\\)"):
        await read(source)
    result = await source.check()
    assert not result.ok and "'Badge number' (custom.badge)" in result.detail


async def test_a_file_over_the_size_cap_is_refused(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))

    with pytest.raises(Invalid, match="max_file_bytes"):
        await read(connect(make_config(max_file_bytes=100)))


def test_config_schema_marks_secrets_write_only_and_refuses_extras(config: CsvConfig) -> None:
    schema = CsvConfig.model_json_schema()
    for name in ("password", "private_key", "private_key_passphrase"):
        assert any(part.get("writeOnly") for part in schema["properties"][name].get("anyOf", [])), name
    with pytest.raises(pydantic.ValidationError):
        CsvConfig.model_validate({**config.model_dump(mode="json"), "no_such_option": 1})
    with pytest.raises(pydantic.ValidationError, match="credentials"):
        CsvConfig.model_validate({**config.model_dump(mode="json"), "url": "sftp://u:p@example.com/x.csv"})


def test_key_is_the_entry_point_name() -> None:
    found = {ep.name: ep for ep in entry_points(group="enrolsync.connectors")}
    assert found["csv"].load() is CsvSource


def test_secrets_stay_out_of_the_config_dump(config: CsvConfig) -> None:
    assert isinstance(config.private_key, SecretStr)
    assert "PRIVATE KEY" not in repr(config) and "PRIVATE KEY" not in str(config.model_dump())


async def test_pinned_key_and_known_hosts_together_trust_both(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    server.write("exports/people.csv", export(IDS))
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    pinned_other = connect(make_config(host_key=other, known_hosts=server.known_hosts_line))
    known_other = connect(make_config(known_hosts=f"[127.0.0.1]:{server.port} {other}"))

    assert (await pinned_other.check()).ok, "the known_hosts line trusts the server"
    assert (await known_other.check()).ok, "the pinned key trusts the server"


async def test_an_encrypted_key_with_its_passphrase(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
    client_key: asyncssh.SSHKey,
) -> None:
    server.write("exports/people.csv", export(IDS))
    # OpenSSH's format, as `ssh-keygen` writes it (bcrypt KDF),
    # with 50 rounds: the fewest bcrypt takes without a warning, to keep the test quick.
    locked = client_key.export_private_key(passphrase="key-passphrase-61", rounds=50).decode()

    assert (await connect(make_config(private_key=locked, private_key_passphrase="key-passphrase-61")).check()).ok
    wrong = await connect(make_config(private_key=locked, private_key_passphrase="wrong")).check()
    assert not wrong.ok and "private_key could not be read" in wrong.detail
    with pytest.raises(Invalid, match="private_key could not be read"):
        await read(connect(make_config(private_key=locked, private_key_passphrase="wrong")))


async def test_no_secret_reaches_the_logs(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.write("exports/people.csv", export(IDS))
    caplog.set_level(logging.DEBUG)
    config = make_config(username="hr-pw", private_key=None, password="leaky-password-8d2c")

    with pytest.raises(AuthError):
        await read(connect(config))

    assert "leaky-password-8d2c" not in caplog.text
    assert caplog.records, "asyncssh logged the attempt (so the check above looked at something)"


async def test_a_large_file_is_streamed_not_held(
    server: SftpExportServer,
    make_config: Config,
    connect: Connect,
) -> None:
    # Few people with long cells: the file is large while what a read must remember (one line number per hr_id)
    # stays small, so a copy of the file held anywhere (transfer buffers, a read-all) shows in the peak.
    ids = [str(n) for n in range(1, 4_001)]
    padding = "x" * 1_500
    lines = [HEADER, *(row(i).replace(f"CC-{i}", f"CC-{i}-{padding}") for i in ids)]
    size = server.write("exports/people.csv", "\n".join(lines) + "\n").stat().st_size
    source = connect(make_config(page_size=200))
    count = 0
    tracemalloc.start()
    try:
        async for page in source.read_persons(None):
            count += len(page.items)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == len(ids)
    assert size > 6_000_000 and peak < size / 2, f"peak {peak} bytes while reading {size} bytes"


async def test_line_numbers_count_the_lines_of_the_file(server: SftpExportServer, source: CsvSource) -> None:
    """A quoted field spanning lines moves the next record's line number as an editor would show it."""
    spanning = row("101").replace("Sales", '"Sales\nand\nSupport"')
    server.write("exports/people.csv", "\n".join([HEADER, row("100"), spanning, "", row("102", email="x")]) + "\n")

    persons, rejected, _ = await read(source)

    assert persons[1].department == "Sales\nand\nSupport"
    assert [(r.line, r.field) for r in rejected] == [(7, "work_email")], "header 1, 100 on 2, 101 on 3-5, blank 6"
