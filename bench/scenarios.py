"""Each scenario's measurement: start the fakes, a private database and the engine, service or script in processes
of their own, and return the figures as a dict (the JSON under bench/results/)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import latency, procs
from bench.harness import database
from bench.options import Options, naive_sample

FINAL_RUN = {"succeeded", "partially_failed", "failed", "cancelled", "blocked"}
RUN_POLL_SECONDS = 0.5
DEMO_RUN_LINE = re.compile(r"^== (?P<title>[^:]+): (?P<status>\w+) \(.*\) in (?P<seconds>[\d.]+) s", re.MULTILINE)
# Why a second worker cannot speed up one pipeline's run, read off src/sync/run/lease.py and src/sync/jobs.
ONE_RUN_ONE_WORKER = (
    "a run is one durable workflow, dequeued by one worker (src/sync/jobs/workflow.py), which holds the run's "
    "lease for its whole sequence (src/sync/run/lease.py: `claim` turns the queued run into a running one under "
    "one owner; another worker takes it over only once that lease lapses); and a pipeline has at most one "
    "executing run (the partial unique index uq_run_running_per_pipeline). So for a single pipeline the run's work "
    "lands on whichever worker dequeues it and the other only polls (the CPU of each process in the row shows "
    "which; the one serving the API also answers the bench's polling); a second worker helps only with several "
    "pipelines. "
    "What would help one pipeline: more batches in flight within the run, up to the connection's concurrency, or "
    "an apply split into leased slices of the run's ops that several workers take"
)


def say(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    opts: Options
    key: str  # the secret key every process of one measurement shares
    workdir: Path
    pids: list[int] = field(default_factory=list)  # the service processes started, for their CPU

    # -- scenarios 1, 2, 3, 7 and 5: one database and size ------------------------------------------------------
    def sync_cell(self, db: str, size: int) -> dict[str, Any]:
        opts = self.opts
        cell: dict[str, Any] = {}
        steps = ["initial"] + ["noop"] * (2 in opts.scenarios) + ["incremental"] * (3 in opts.scenarios)
        record = self.workdir / f"writes-{uuid.uuid4().hex[:8]}.jsonl" if 7 in opts.scenarios else None
        with ExitStack() as stack:
            hr = stack.enter_context(procs.fake("bamboohr", people=size))
            lms = stack.enter_context(procs.fake("moodle", latency_ms=opts.lms_latency_ms))
            url = stack.enter_context(database(db, self.workdir))
            args = self._engine_args(url, hr, lms) + ["--steps", ",".join(steps)]
            args += ["--record", str(record)] if record else []
            if opts.profile:
                args += ["--profile", str(opts.profile / f"{db}-{size}")]
            say(f"{db} {size:,}: scenarios 1-3 ({', '.join(steps)})")
            cell["sync"] = procs.run_child("bench.engine_child", args)
            if record is not None:
                cell["limit"] = self.guarded(f"{db} {size} physical limit", lambda: self.limit(record))
            if 5 in opts.scenarios and size in opts.burst_sizes:
                say(f"{db} {size:,}: scenario 5 (a burst of {opts.events} webhook calls, {opts.concurrency} at once)")
                cell["burst"] = self.guarded(
                    f"{db} {size} burst", lambda: self.burst(stack, url, cell["sync"]["source_id"], hr, lms)
                )
        return cell

    def _engine_args(self, url: str, hr: procs.FakeProcess, lms: procs.FakeProcess) -> list[str]:
        return [
            "sync",
            "--db",
            url,
            "--hr",
            hr.url,
            "--lms",
            lms.url,
            "--secret-key",
            self.key,
            "--rates",
            self.opts.rates,
        ]

    def limit(self, record: Path) -> dict[str, Any]:
        """Scenario 7: the initial sync's writes replayed on a fresh fake Moodle with no engine behind them."""
        try:
            with procs.fake("moodle", latency_ms=self.opts.lms_latency_ms) as fresh:
                say("scenario 7: replaying the initial sync's writes (the physical limit)")
                return procs.run_child("bench.replay", ["--lms", fresh.url, "--file", str(record)])
        finally:
            record.unlink(missing_ok=True)

    def burst(
        self, stack: ExitStack, url: str, source_id: str, hr: procs.FakeProcess, lms: procs.FakeProcess
    ) -> dict[str, Any]:
        # As deployed (`enrolsync serve` beside `enrolsync worker`, docker-compose's api and worker): the burst's
        # HTTP calls and the runs they cause do not share one event loop.
        api_url, _ = self.service(stack, url, split=True)
        shape = latency.Burst(events=self.opts.events, concurrency=self.opts.concurrency)
        return latency.measure(api_url, source_id, hr, lms, shape)

    def service(self, stack: ExitStack, url: str, *, api: bool = True, split: bool = False) -> tuple[str, str | None]:
        """Start `bench.service_child` (API + worker, or a worker only; with `split`, the API and its worker in two
        processes); its base URL and an admin token."""
        data_dir = self.workdir / f"service-{uuid.uuid4().hex[:8]}"  # the job engine's files, fresh each time
        data_dir.mkdir()
        command = [sys.executable, "-m", "bench.service_child", "--db", url, "--secret-key", self.key]
        command += ["--data-dir", str(data_dir), "--rates", self.opts.rates] + ([] if api else ["--no-api"])
        env = {**procs.child_env(), **({"BENCH_SERVICE_PROCESSES": "2"} if split else {})}
        process = subprocess.Popen(command, cwd=procs.ROOT, env=env, stdout=subprocess.PIPE, text=True)
        stack.callback(procs.stop, process)
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"the service did not start (exit code {process.poll()})")
        self.pids.append(process.pid)
        return f"http://127.0.0.1:{line[1]}", None if line[2] == "-" else line[2]

    # -- scenario 4 -----------------------------------------------------------------------------------------------
    def throttled(self, db: str, size: int, limiter: str) -> dict[str, Any]:
        """An initial sync against a Moodle that answers 429 beyond `budget` requests per second."""
        opts = self.opts
        with ExitStack() as stack:
            hr = stack.enter_context(procs.fake("bamboohr", people=size))
            lms = stack.enter_context(procs.fake("moodle", latency_ms=opts.lms_latency_ms))
            url = stack.enter_context(database(db, self.workdir))
            say(f"{db} {size:,}: scenario 4 (budget {opts.budget:g}/s, engine limiter: {limiter})")
            args = ["throttled", "--db", url, "--hr", hr.url, "--lms", lms.url, "--secret-key", self.key]
            args += ["--budget", str(opts.budget), "--limiter", limiter, "--seconds", str(opts.throttle_seconds)]
            return procs.run_child("bench.engine_child", args)

    # -- scenario 6 -----------------------------------------------------------------------------------------------
    def versus(self, latency_ms: float, dbs: list[str]) -> dict[str, Any]:
        """The engine's initial sync and the naive script, on the same company and the same fakes' latency."""
        people = self.opts.naive_people
        sample = naive_sample(people, latency_ms, self.opts.naive_seconds)
        out: dict[str, Any] = {"latency_ms": latency_ms, "people": people, "engine": {}}
        with procs.fake("bamboohr", people=people) as hr, procs.fake("moodle", latency_ms=latency_ms) as lms:
            say(f"scenario 6 at {latency_ms:g} ms: the naive script ({sample:,} of {people:,} people)")
            out["naive"] = self.guarded(
                f"naive {latency_ms:g} ms",
                lambda: procs.run_child("bench.naive", ["--hr", hr.url, "--lms", lms.url, "--people", str(sample)]),
            )
        for db in dbs:
            out["engine"][db] = self.guarded(
                f"{db} engine {latency_ms:g} ms", lambda db=db: self._engine_initial(db, people, latency_ms)
            )
        return out

    def _engine_initial(self, db: str, people: int, latency_ms: float) -> dict[str, Any]:
        with ExitStack() as stack:
            hr = stack.enter_context(procs.fake("bamboohr", people=people))
            lms = stack.enter_context(procs.fake("moodle", latency_ms=latency_ms))
            url = stack.enter_context(database(db, self.workdir))
            say(f"scenario 6 at {latency_ms:g} ms: the engine on {db} ({people:,} people)")
            found: dict[str, Any] = procs.run_child(
                "bench.engine_child", self._engine_args(url, hr, lms) + ["--steps", "initial"]
            )["initial"]
            return found

    # -- scenario 8 -----------------------------------------------------------------------------------------------
    def demo(self) -> dict[str, Any]:
        """`enrolsync demo --people N` as a user runs it (a fresh data folder, any free port), timed."""
        people = self.opts.demo_people
        data_dir = self.workdir / f"demo-{uuid.uuid4().hex[:8]}"
        env = {**procs.child_env(), "ENROLSYNC_DATA_DIR": str(data_dir)}
        env.pop("DATABASE_URL", None)
        env.pop("ENROLSYNC_DATABASE_URL", None)
        command = [sys.executable, "-m", "enrolsync", "demo", "--people", str(people), "--port", "0"]
        say(f"scenario 8: enrolsync demo --people {people:,}")
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, cwd=procs.ROOT, env=env, capture_output=True, text=True, timeout=self.opts.demo_timeout
            )
        except subprocess.TimeoutExpired:
            return {"people": people, "wall_s": None, "timed_out_after_s": self.opts.demo_timeout}
        wall = time.perf_counter() - started
        runs = {
            m["title"]: {"status": m["status"], "seconds": float(m["seconds"])}
            for m in DEMO_RUN_LINE.finditer(done.stdout)
        }
        return {"people": people, "wall_s": round(wall, 2), "exit_code": done.returncode, "runs": runs}

    # -- scenario 9 -----------------------------------------------------------------------------------------------
    def workers(self, workers: int) -> dict[str, Any]:
        """The initial sync of one pipeline through the service on PostgreSQL, with `workers` worker processes."""
        size = self.opts.workers_size
        with ExitStack() as stack:
            hr = stack.enter_context(procs.fake("bamboohr", people=size))
            lms = stack.enter_context(procs.fake("moodle", latency_ms=self.opts.lms_latency_ms))
            url = stack.enter_context(database("postgresql", self.workdir))
            setup = ["setup", "--db", url, "--hr", hr.url, "--lms", lms.url, "--secret-key", self.key]
            pipeline_id = procs.run_child("bench.engine_child", setup)["pipeline_id"]
            self.pids.clear()
            api_url, token = self.service(stack, url)
            for _ in range(workers - 1):
                self.service(stack, url, api=False)
            say(f"scenario 9: {size:,} people, {workers} worker(s) on postgresql")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            cpu_before = [procs.cpu_seconds(pid) for pid in self.pids]
            with httpx.Client(base_url=api_url, headers=headers, timeout=60) as api:
                started = time.perf_counter()
                response = api.post(f"/pipelines/{pipeline_id}/runs", json={"mode": "apply", "scope": "full"})
                response.raise_for_status()
                run = response.json()
                while run["status"] not in FINAL_RUN:
                    time.sleep(RUN_POLL_SECONDS)
                    run = api.get(f"/runs/{run['id']}").json()
                wall = time.perf_counter() - started
            cpu = [round(procs.cpu_seconds(pid) - before, 2) for pid, before in zip(self.pids, cpu_before, strict=True)]
            return {
                "workers": workers,
                "people": size,
                "status": run["status"],
                "wall_s": round(wall, 2),
                "cpu_s_per_process": cpu,
            }

    # -- shared -----------------------------------------------------------------------------------------------------
    def guarded(self, what: str, work: Any) -> dict[str, Any]:
        """Run one measurement; a failure is recorded in the figures and the other measurements go on."""
        try:
            found: dict[str, Any] = work()
            return found
        except Exception as error:  # one broken scenario must not lose the others' figures
            say(f"{what} failed: {type(error).__name__}: {error}")
            return {"error": f"{type(error).__name__}: {error}"}
