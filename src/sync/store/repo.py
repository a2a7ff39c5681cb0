"""Keyword-only query functions per aggregate: `await repo.create_run(session, pipeline_id=...)`.

Conventions, true of every function here:
- The session comes first, everything else by keyword.
- Functions flush but never commit: the caller owns the transaction (one unit of work per request or step).
- `get_*` returns None for a missing row.
- Lists are keyset-paginated (`after`/`before` is the last key of the previous page), with a `limit`.
- Work on SQLite and PostgreSQL alike: upserts use each dialect's INSERT ... ON CONFLICT.

The functions live in `repo_config` (connections, pipelines), `repo_runs` (queueing runs), `repo_links`
(links, checkpoints) and `repo_events` (webhook events); import them from here. What a run writes thousands of
times (person snapshots, ops and their outcomes) is in `ledger.py`, in bulk.
"""

from __future__ import annotations

from enrolsync.sync.store.repo_config import InUseError, create_connection, create_pipeline, delete_pipeline
from enrolsync.sync.store.repo_events import list_events, store_event
from enrolsync.sync.store.repo_links import get_checkpoint, get_links, list_links, save_checkpoint
from enrolsync.sync.store.repo_runs import create_run, run_covers

__all__ = [
    "InUseError",
    "create_connection",
    "create_pipeline",
    "create_run",
    "delete_pipeline",
    "get_checkpoint",
    "get_links",
    "list_events",
    "list_links",
    "run_covers",
    "save_checkpoint",
    "store_event",
]
