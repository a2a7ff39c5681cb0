"""Links (person <-> account, with the state last applied) and source checkpoints. Import through `repo`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.db import dialect_insert
from enrolsync.sync.store.tables import Checkpoint, Link, utcnow

DEFAULT_LIMIT = 500
# Well under SQLite's bound-parameter cap, and keeps PostgreSQL's plans for IN lists cheap.
_IN_CHUNK = 500


# --- links -------------------------------------------------------------------------------------------------


async def get_links(session: AsyncSession, *, pipeline_id: str, hr_ids: Iterable[str] | None = None) -> dict[str, Link]:
    """A pipeline's links by hr_id: all of them, or those of `hr_ids` (unknown ids are simply absent)."""
    base = select(Link).where(Link.pipeline_id == pipeline_id).execution_options(populate_existing=True)
    if hr_ids is None:
        return {link.hr_id: link for link in (await session.exec(base)).all()}
    wanted = sorted(set(hr_ids))
    found: dict[str, Link] = {}
    for offset in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[offset : offset + _IN_CHUNK]
        found.update({link.hr_id: link for link in (await session.exec(base.where(col(Link.hr_id).in_(chunk))))})
    return found


async def list_links(
    session: AsyncSession, *, pipeline_id: str, after: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[Link]:
    """A pipeline's links ordered by hr_id; pass the last hr_id of a page as `after` for the next one."""
    stmt = select(Link).where(Link.pipeline_id == pipeline_id).order_by(col(Link.hr_id)).limit(limit)
    if after is not None:
        stmt = stmt.where(col(Link.hr_id) > after)
    return list((await session.exec(stmt)).all())


# --- checkpoints -------------------------------------------------------------------------------------------


async def get_checkpoint(session: AsyncSession, *, pipeline_id: str) -> str | None:
    """The source cursor the pipeline's next incremental run starts from; None means a full read."""
    checkpoint = await session.get(Checkpoint, pipeline_id, populate_existing=True)
    return None if checkpoint is None else checkpoint.cursor


async def save_checkpoint(session: AsyncSession, *, pipeline_id: str, cursor: str | None) -> None:
    """Store the cursor to resume from (None forgets it, so the next run reads everything)."""
    now = utcnow()
    insert = dialect_insert(session, Checkpoint).values(pipeline_id=pipeline_id, cursor=cursor, updated_at=now)
    stmt = insert.on_conflict_do_update(
        index_elements=["pipeline_id"], set_={"cursor": insert.excluded.cursor, "updated_at": now}
    )
    await session.exec(stmt)
