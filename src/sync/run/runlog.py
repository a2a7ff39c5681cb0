"""The two log lines every run leaves, whatever ends it: `run started` when a worker takes it and `run ended`
when its status settles. Each carries what an operator reading the log wants without a database at hand:
pipeline, mode, scope, trigger, people, operations by outcome and the duration. Ids and counts only (the log
is no place for personal data): people are counted, never named.

Rendered by `logs.configure_logging`: key=value in a terminal, one JSON object per line with `ENROLSYNC_LOG_JSON`.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from enrolsync.sync.store.tables import Run, RunOpStatus

log = structlog.get_logger("enrolsync.run")


def started(run: Run, *, worker: str) -> None:
    """A worker took the run (a later generation is a worker continuing one whose worker died)."""
    named = {"people_named": len(run.hr_ids)} if run.scope == "people" else {}
    log.info(
        "run started",
        run_id=run.id,
        pipeline_id=run.pipeline_id,
        pipeline_version=run.pipeline_version,
        mode=run.mode,
        scope=run.scope,
        trigger=run.trigger,
        generation=run.generation,
        worker=worker,
        **named,
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def ended(run: Run, counts: dict[str, dict[str, int]] | None = None) -> None:
    """The run's status settled; `counts` are its ops by kind and status (`ledger.op_counts`)."""
    counts = counts if counts is not None else run.counters.get("ops", {})
    by_outcome = {s.value: sum(by.get(s.value, 0) for by in counts.values()) for s in RunOpStatus}
    people = run.counters.get("people", {})
    event = log.warning if run.status != "succeeded" else log.info
    event(
        "run ended",
        run_id=run.id,
        pipeline_id=run.pipeline_id,
        mode=run.mode,
        scope=run.scope,
        trigger=run.trigger,
        status=str(run.status),
        people_read=run.people_read,
        people_invalid=people.get("invalid", 0),
        people_conflicts=people.get("conflicts", 0),
        ops={k: v for k, v in by_outcome.items() if v},
        duration_s=_seconds(run.started_at, run.finished_at),
        error=(run.error or "")[:200] or None,
    )
