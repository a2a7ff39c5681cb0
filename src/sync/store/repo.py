"""Keyword-only query functions per aggregate: `await repo.get_run(session, run_id=...)`.

Conventions, true of every function here:
- The session comes first, everything else by keyword.
- Functions flush but never commit: the caller owns the transaction (one unit of work per request or step).
- `get_*` returns None for a missing row; `update_*` / `set_*` return None when there was nothing to update.
- Lists are keyset-paginated (`after`/`before` is the last key of the previous page), with a `limit`.
- Work on SQLite and PostgreSQL alike: upserts use each dialect's INSERT ... ON CONFLICT.

The functions live in `repo_config` (connections, pipelines), `repo_runs` (runs, run ops), `repo_links`
(links, checkpoints) and `repo_events` (webhook events); import them from here.
"""

from __future__ import annotations

from enrolsync.sync.store.repo_config import (
    InUseError,
    connection_in_use,
    create_connection,
    create_pipeline,
    delete_connection,
    delete_pipeline,
    get_connection,
    get_connection_by_name,
    get_pipeline,
    get_pipeline_version,
    list_connections,
    list_pipeline_versions,
    list_pipelines,
    update_connection,
    update_pipeline,
)
from enrolsync.sync.store.repo_events import list_events, set_events_run, store_event
from enrolsync.sync.store.repo_links import (
    count_links,
    get_checkpoint,
    get_links,
    list_links,
    record_link_error,
    save_checkpoint,
    upsert_link,
)
from enrolsync.sync.store.repo_runs import (
    active_run,
    add_run_ops,
    add_run_progress,
    create_run,
    get_run,
    list_run_ops,
    list_runs,
    record_op_outcome,
    set_run_status,
)

__all__ = [
    "InUseError",
    "active_run",
    "add_run_ops",
    "add_run_progress",
    "connection_in_use",
    "count_links",
    "create_connection",
    "create_pipeline",
    "create_run",
    "delete_connection",
    "delete_pipeline",
    "get_checkpoint",
    "get_connection",
    "get_connection_by_name",
    "get_links",
    "get_pipeline",
    "get_pipeline_version",
    "get_run",
    "list_connections",
    "list_events",
    "list_links",
    "list_pipeline_versions",
    "list_pipelines",
    "list_run_ops",
    "list_runs",
    "record_link_error",
    "record_op_outcome",
    "save_checkpoint",
    "set_events_run",
    "set_run_status",
    "store_event",
    "update_connection",
    "update_pipeline",
    "upsert_link",
]
