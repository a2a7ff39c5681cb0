"""The uploads of `csv` connections: files kept in the database, in chunks, so that every worker can read them.

An upload is written while its request streams in: the row first (incomplete, invisible to readers), then each
chunk in its own short commit (a long write transaction would hold SQLite's only write lock for as long as the
client takes to send), then the commit that marks it complete. A failed upload is deleted; one whose process died
mid-way stays incomplete until `prune` clears it. Readers see complete uploads only, the newest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from enrolsync.sync.store.tables import Upload, UploadChunk, utcnow

# An incomplete upload older than this was abandoned (its process died): no client streams one file for a day.
ABANDONED_AFTER = timedelta(hours=24)


async def begin(
    session: AsyncSession, *, connection_id: str, filename: str | None, content_type: str, uploaded_by: str
) -> Upload:
    """Record a new, incomplete upload and commit it."""
    upload = Upload(connection_id=connection_id, filename=filename, content_type=content_type, uploaded_by=uploaded_by)
    session.add(upload)
    await session.commit()
    return upload


async def add_chunk(session: AsyncSession, *, upload_id: str, seq: int, data: bytes) -> None:
    """Store one chunk and commit. A core insert: the ORM would keep every chunk's bytes in the session."""
    await session.exec(sa.insert(UploadChunk).values(upload_id=upload_id, seq=seq, data=data))
    await session.commit()


async def complete(session: AsyncSession, upload: Upload, *, size: int, sha256: str, lines: int) -> Upload:
    """Mark the upload complete (readers see it from this commit on)."""
    upload.size, upload.sha256, upload.lines = size, sha256, lines
    upload.complete, upload.completed_at = True, utcnow()
    session.add(upload)
    await session.commit()
    return upload


async def discard(session: AsyncSession, *, upload_id: str) -> None:
    """Delete an upload and its chunks, and commit (after a refused or broken upload)."""
    await session.rollback()
    await _delete(session, [upload_id])
    await session.commit()


async def _delete(session: AsyncSession, upload_ids: list[str]) -> None:
    if upload_ids:
        await session.exec(sa.delete(UploadChunk).where(col(UploadChunk.upload_id).in_(upload_ids)))
        await session.exec(sa.delete(Upload).where(col(Upload.id).in_(upload_ids)))


def _complete_of(connection_id: str) -> SelectOfScalar[Upload]:
    return (
        select(Upload)
        .where(col(Upload.connection_id) == connection_id, col(Upload.complete).is_(True))
        .order_by(col(Upload.completed_at).desc(), col(Upload.id).desc())
    )


async def listed(session: AsyncSession, *, connection_id: str) -> list[Upload]:
    """The connection's complete uploads, newest first."""
    return list((await session.exec(_complete_of(connection_id))).all())


async def newest(session: AsyncSession, *, connection_id: str) -> Upload | None:
    """The connection's current file: its newest complete upload."""
    return (await session.exec(_complete_of(connection_id).limit(1))).first()


async def prune(session: AsyncSession, *, connection_id: str, keep: int, now: datetime | None = None) -> int:
    """Delete all but the newest `keep` complete uploads of the connection, and its abandoned incomplete ones;
    commit. Returns how many uploads were deleted."""
    kept = [u.id for u in (await listed(session, connection_id=connection_id))[:keep]]
    cutoff = (now or utcnow()) - ABANDONED_AFTER
    stale = select(Upload.id).where(
        col(Upload.connection_id) == connection_id,
        sa.or_(
            sa.and_(col(Upload.complete).is_(True), col(Upload.id).not_in(kept)),
            sa.and_(col(Upload.complete).is_(False), col(Upload.created_at) < cutoff),
        ),
    )
    doomed = list((await session.exec(stale)).all())
    await _delete(session, doomed)
    await session.commit()
    return len(doomed)


async def delete_all(session: AsyncSession, *, connection_id: str) -> None:
    """Delete every upload of the connection (it is being deleted); the caller commits."""
    ids = list((await session.exec(select(Upload.id).where(col(Upload.connection_id) == connection_id))).all())
    await _delete(session, ids)


async def read_chunks(sessions: async_sessionmaker[AsyncSession], upload: Upload) -> AsyncIterator[bytes]:
    """The upload's bytes, chunk by chunk, each read in a short session of its own (a reader never holds a
    transaction open while its consumer works).

    Raises:
        LookupError: a chunk is missing, or the bytes do not add up to the upload's size: it was pruned (three
            newer uploads arrived) while it was read.
    """
    seq, total = 0, 0
    while True:
        async with sessions() as session:
            stmt = select(UploadChunk.data).where(col(UploadChunk.upload_id) == upload.id, col(UploadChunk.seq) == seq)
            data = (await session.exec(stmt)).first()
        if data is None:
            break
        total += len(data)
        yield data
        seq += 1
    if total != upload.size:
        raise LookupError(f"upload {upload.id} was deleted while it was read ({total} of {upload.size} bytes)")
