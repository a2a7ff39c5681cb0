"""`GET /metrics`: the gauges in Prometheus' text format (prometheus-client).

Two kinds of series, in one answer:
- read from the database at each scrape, so every API process answers the same: runs by status, queue depth,
  live workers;
- counted by this process (`sync.run.gauges`): remote API latency, 429s and
  retries per connection, operations by kind and outcome, webhook events accepted, duplicate and refused. A
  worker counts its own and serves them on `ENROLSYNC_WORKER_METRICS_PORT`; scrape every process.

Public like `/healthz`: the series carry ids and counts, never a person or a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from enrolsync.api.deps import ClockDep, SessionDep, SettingsDep
from enrolsync.sync.store import repo_gauges
from enrolsync.sync.store.tables import RunStatus

router = APIRouter(tags=["health"])


class _Fixed(Collector):
    """Serves metric families computed before the scrape (the database is read asynchronously, collect() is not)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


class _Process(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _database_families(by_status: dict[str, int], live: int) -> list[Metric]:
    runs = GaugeMetricFamily("enrolsync_runs", "Runs by status (all time, from the database).", labels=["status"])
    for status in RunStatus:
        runs.add_metric([status.value], by_status.get(status.value, 0))
    queue = GaugeMetricFamily("enrolsync_queue_depth", "Runs requested and waiting for a worker (status queued).")
    queue.add_metric([], by_status.get(RunStatus.QUEUED.value, 0))
    workers = GaugeMetricFamily(
        "enrolsync_workers_live", "Workers whose heartbeat is within ENROLSYNC_WORKER_SEEN_SECONDS."
    )
    workers.add_metric([], live)
    return [runs, queue, workers]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}, "description": "Gauges."}},
)
async def metrics(session: SessionDep, settings: SettingsDep, now: ClockDep) -> Response:
    """The gauges in Prometheus' text exposition format."""
    by_status = await repo_gauges.runs_by_status(session)
    since = now() - timedelta(seconds=settings.worker_seen_seconds)
    live = len(await repo_gauges.live_workers(session, since=since))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(_database_families(by_status, live)))
    registry.register(_Process())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
