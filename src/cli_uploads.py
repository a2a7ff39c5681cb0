"""What `enrolsync upload CONNECTION FILE` does, apart from the command line's wiring (`cli.py`): stream a local
file into a csv connection's uploads, as `POST /connections/{id}/uploads` does, and request the runs that read it.

The file is read a chunk at a time and written straight to the database (`sync/jobs/uploads.py`); the runs are
executed by a worker, never by this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api import audit
from enrolsync.api.auth import Principal
from enrolsync.settings import Settings
from enrolsync.sync.jobs import uploads as receiving
from enrolsync.sync.jobs.root import open_root
from enrolsync.sync.jobs.run_requests import RunQueue
from enrolsync.sync.store.tables import Connection, utcnow

READ_BYTES = 256 * 1024


class NotFound(LookupError):
    """No connection by that id or name."""


async def find_connection(session: AsyncSession, ref: str) -> Connection:
    """A connection by id or by name."""
    stmt = select(Connection).where(or_(col(Connection.id) == ref, col(Connection.name) == ref))
    found = (await session.exec(stmt)).first()
    if found is None:
        raise NotFound(f"no connection with id or name {ref!r}")
    return found


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    opened = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(opened.read, READ_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(opened.close)


async def upload(
    settings: Settings, ref: str, path: Path, *, queue: RunQueue, principal: Principal
) -> receiving.Received:
    """Store `path` as the connection's newest upload and request its runs.

    Raises:
        NotFound: no such connection.
        receiving.NotUploadable, receiving.UploadTooLarge, receiving.UploadRefused: as the API answers them.
        OSError: the file cannot be read.
    """
    async with await open_root(settings) as root, root.runtime.sessions() as session:
        rt = root.runtime
        connection = await find_connection(session, ref)
        target = receiving.target_for(
            connection, registry=rt.registry, box=rt.box, cap=settings.upload_max_bytes, keep=settings.uploads_kept
        )
        if (await asyncio.to_thread(path.stat)).st_size > target.cap:
            raise receiving.UploadTooLarge(target.cap)
        received = await receiving.receive(
            session, target, _chunks(path), filename=path.name, content_type="text/csv",
            uploaded_by=principal.subject, queue=queue,
        )  # fmt: skip
        detail = {"upload_id": received.upload.id, "size": received.upload.size, "pruned": received.pruned}
        audit.record(
            session, principal, action="connection.upload", resource_type="connection", resource_id=connection.id,
            at=utcnow(), detail=detail,
        )  # fmt: skip
        await session.commit()
        return received
