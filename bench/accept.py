"""How fast the API accepts webhook calls, in-process: `python -m bench.accept [--calls 200] [--profile]`.

The webhook burst (scenario 5) is bounded by the API's main thread: each call is verified, parsed, stored,
committed and dispatched there. This drives the app (real registry, SQLite in a temporary directory, a run
queue that only records) through httpx's ASGI transport with BambooHR-signed calls, one person each, one at a
time, and prints calls per second and process CPU ms per call. `--profile` prints a pyinstrument profile of
the calls. Nothing here talks to a network: the pipeline's ends are configured but never contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench.harness import LOOPBACK, connection_configs, cpu_seconds, pipeline_spec
from bench.serve_fake import COMPANY, HR_WEBHOOK_KEY
from enrolsync.api.app import create_app
from enrolsync.api.deps import Services
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.fake import BambooHRFake
from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.demo_systems import COURSES
from enrolsync.settings import Settings
from enrolsync.sync.store import repo_config
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import generate_key


class _Queue:
    """Records the runs handed to it: the bench measures accepting, not running."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.ids.append(run_id)


async def _setup(services: Services) -> str:
    configs = connection_configs("http://127.0.0.1:9", "http://127.0.0.1:9", {"student": 5})
    models: dict[str, type[ConnectorConfig]] = {"bamboohr": BambooHRConfig, "moodle": MoodleConfig}
    async with services.sessions() as session:
        ids = {}
        for key, config in configs.items():
            public, secret = split_config(models[key], config, allowed_http_hosts=LOOPBACK)
            made = await repo_config.create_connection(
                session, name=f"bench {key}", connector=key, config=public, secrets=services.box.encrypt(secret)
            )
            ids[key] = made.id
        spec = pipeline_spec({short: n for n, short in enumerate(COURSES, start=1)})
        await repo_config.create_pipeline(
            session, name="bench", source_id=ids["bamboohr"], target_id=ids["moodle"], spec=spec
        )
        await session.commit()
    return ids["bamboohr"]


async def _calls(client: httpx.AsyncClient, source_id: str, hr: BambooHRFake, first: int, count: int) -> None:
    for n in range(first, first + count):
        raw = hr.webhook_request(str(n), changed_fields=["department"])
        headers = {**dict(raw.headers), **hr.sign(raw.body, int(time.time()))}
        answer = await client.post(f"/webhooks/{source_id}", content=raw.body, headers=headers)
        assert answer.status_code == 202, answer.text


async def main(calls: int, profile: bool) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="enrolsync-accept-"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'accept.db'}",
        data_dir=data_dir,
        secret_keys=[SecretStr(generate_key())],
        allowed_private_hosts=LOOPBACK,
        allowed_http_hosts=LOOPBACK,
    )
    queue = _Queue()
    app = create_app(settings, queue=queue)
    hr = BambooHRFake(company_domain=COMPANY, webhook_key=HR_WEBHOOK_KEY)
    async with app.router.lifespan_context(app):
        source_id = await _setup(app.state.services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://enrolsync.test") as client:
            await _calls(client, source_id, hr, 0, 20)  # warm-up: imports, first queries, caches
            profiler = None
            if profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled")
                profiler.start()
            cpu, wall = cpu_seconds(), time.perf_counter()
            await _calls(client, source_id, hr, 1000, calls)
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"{calls} calls: {calls / wall:.1f} calls/s, {cpu / calls * 1000:.1f} ms CPU per call, {len(queue.ids)} runs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the calls")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.profile))
