"""Receiving a file for a `csv` connection: store it as it streams in, keep the newest few, start the runs.

Used by `POST /connections/{id}/uploads` and by `enrolsync upload`. The bytes go to the database chunk by chunk
(`store/uploads.py`), never whole in memory, checked on the way (size cap, and the connector's `TextCheck`: text
in the encoding a run will read it with). A refused or broken upload is deleted before the caller hears of it, so
nothing half-stored is ever read. A complete one becomes the connection's current file: the older ones beyond
`keep` are pruned, and each pipeline fed by the connection gets a full applied run, recorded and queued the way
every run is (`run_requests.request_run`), so a burst of uploads joins one waiting run.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.uploads import TextCheck
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.registry import Registry, UnknownConnector
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.run.quarantine import PipelineQuarantined
from enrolsync.sync.store import uploads
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.crypto import SecretBox, SecretsUndecryptable
from enrolsync.sync.store.tables import Connection, Pipeline, Upload

log = structlog.get_logger("enrolsync.uploads")

CHUNK_BYTES = 512 * 1024  # one stored chunk: small enough for any driver's parameter, few enough rows per file


class TextFollower(Protocol):
    """Judges a file as it streams in (the csv connector's `TextCheck`)."""

    def feed(self, chunk: bytes) -> None:
        """Raises `Invalid` when the bytes so far cannot be read."""
        ...

    def finish(self) -> int:
        """The number of lines; raises `Invalid` when the whole file cannot be read."""
        ...


class UploadTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(f"the file is larger than {cap} bytes: refused, nothing was kept")
        self.cap = cap


class UploadRefused(Exception):
    """The file cannot be read as the connection would read it (empty, not text in its encoding)."""


class NotUploadable(Exception):
    """The connection takes no uploads (not csv, or it reads its file from SFTP); the message says why."""


@dataclass(frozen=True)
class RunAsked:
    """What an upload did for one pipeline: the run that will read it (`created`: new, else a waiting run it
    joined), or why none was requested (`held`)."""

    pipeline_id: str
    run_id: str | None = None
    created: bool = False
    held: str | None = None


@dataclass(frozen=True)
class Received:
    upload: Upload
    runs: list[RunAsked] = field(default_factory=list)
    pruned: int = 0


@dataclass(frozen=True)
class Target:
    """Where an upload goes and how it is judged."""

    connection_id: str
    cap: int  # bytes
    keep: int  # complete uploads kept per connection
    check: TextFollower


def target_for(connection: Connection, *, registry: Registry, box: SecretBox, cap: int, keep: int) -> Target:
    """Where a file for `connection` goes and how it is judged: at most `cap` bytes (lowered to the connection's
    `max_file_bytes`), read in the connection's encoding.

    Raises:
        NotUploadable: the connection is not a csv connection of `origin: upload`, or its config cannot be read.
    """
    if connection.connector != "csv":
        raise NotUploadable(f"uploads are for csv connections; this one is a {connection.connector!r} connection")
    try:
        config = load_config(registry.info("csv").config_model, connection.config, connection.secrets, box)
    except (UnknownConnector, SecretsUndecryptable, ValueError) as error:
        raise NotUploadable(f"the connection's config cannot be read: {error}") from None
    if not isinstance(config, CsvConfig):
        raise NotUploadable("the installed csv connector does not take uploads")
    if config.origin != "upload":
        raise NotUploadable(
            "this connection reads its file from SFTP (`origin: sftp`); set `origin` to `upload` (PATCH the "
            "connection) to send files here instead"
        )
    return Target(
        connection_id=connection.id,
        cap=min(cap, config.max_file_bytes),
        keep=keep,
        check=TextCheck(encoding=config.encoding),
    )


async def receive(
    session: AsyncSession,
    target: Target,
    body: AsyncIterable[bytes],
    *,
    filename: str | None,
    content_type: str,
    uploaded_by: str,
    queue: run_requests.RunQueue,
) -> Received:
    """Store `body` as the connection's newest upload, prune the old ones and request a full run of each pipeline
    whose source it is.

    Raises:
        UploadTooLarge: more than `target.cap` bytes (nothing is kept).
        UploadRefused: the check refused the file (nothing is kept).
    """
    upload = await uploads.begin(
        session, connection_id=target.connection_id, filename=filename, content_type=content_type,
        uploaded_by=uploaded_by,
    )  # fmt: skip
    upload_id = upload.id
    try:
        size, digest, lines = await _store(session, target, upload_id, body)
    except BaseException:
        # Refused, broken, or the client went away: nothing of it stays.
        await _discard(session, upload_id)
        raise
    upload = await uploads.complete(session, upload, size=size, sha256=digest, lines=lines)
    pruned = await uploads.prune(session, connection_id=target.connection_id, keep=target.keep)
    runs = await request_runs(session, connection_id=target.connection_id, queue=queue)
    log.info(
        "upload.received", connection_id=target.connection_id, upload_id=upload.id, size=size, pruned=pruned,
        runs=[r.run_id for r in runs],
    )  # fmt: skip
    return Received(upload=upload, runs=runs, pruned=pruned)


async def _discard(session: AsyncSession, upload_id: str) -> None:
    try:
        await uploads.discard(session, upload_id=upload_id)
    except Exception:  # the database failed too: the incomplete row is never read, and `prune` clears it later
        log.warning("upload.discard_failed", upload_id=upload_id, exc_info=True)


async def _store(
    session: AsyncSession, target: Target, upload_id: str, body: AsyncIterable[bytes]
) -> tuple[int, str, int]:
    """Write the body's chunks; returns (size, sha256, lines)."""
    digest, pending = hashlib.sha256(), bytearray()
    size, seq = 0, 0
    try:
        async for piece in body:
            size += len(piece)
            if size > target.cap:
                raise UploadTooLarge(target.cap)
            target.check.feed(piece)
            digest.update(piece)
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                await uploads.add_chunk(session, upload_id=upload_id, seq=seq, data=bytes(pending[:CHUNK_BYTES]))
                del pending[:CHUNK_BYTES]
                seq += 1
        lines = target.check.finish()
    except Invalid as error:
        raise UploadRefused(error.reason) from None
    if pending:
        await uploads.add_chunk(session, upload_id=upload_id, seq=seq, data=bytes(pending))
    return size, digest.hexdigest(), lines


async def request_runs(session: AsyncSession, *, connection_id: str, queue: run_requests.RunQueue) -> list[RunAsked]:
    """A full applied run of each pipeline whose source is the connection (a waiting one is joined, not doubled);
    a quarantined pipeline gets none, with the reason."""
    stmt = select(Pipeline.id).where(col(Pipeline.source_id) == connection_id).order_by(col(Pipeline.id))
    asked: list[RunAsked] = []
    for pipeline_id in (await session.exec(stmt)).all():
        try:
            run, created = await run_requests.request_run(
                session, pipeline_id=pipeline_id, mode="apply", scope="full", trigger="upload", queue=queue
            )
        except PipelineQuarantined as error:  # raised on a read, before anything is written: nothing to undo
            asked.append(RunAsked(pipeline_id=pipeline_id, held=str(error)))
            continue
        asked.append(RunAsked(pipeline_id=pipeline_id, run_id=run.id, created=created))
    return asked
