"""Child processes: the fakes (each a uvicorn server of its own) and the engine runs, which report JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 300  # a 100,000-person company takes a while to generate


@dataclass
class FakeProcess:
    """A fake served by a child process, and a client for its `/_bench/` controls."""

    kind: str
    process: subprocess.Popen[str]
    url: str

    def control(self, name: str, **body: Any) -> Any:
        response = httpx.post(f"{self.url}/_bench/{name}", json=body, timeout=120)
        response.raise_for_status()
        return response.json()["result"]


def child_env() -> dict[str, str]:
    # The children import `bench` and `tests` (the fakes) from the checkout, like the demo does.
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@contextmanager
def fake(
    kind: str, *, people: int = 0, seed: int = 7, budget: float | None = None, latency_ms: float = 0.0
) -> Iterator[FakeProcess]:
    """Start `python -m bench.serve_fake` on a free loopback port; stop it when the block ends."""
    command = [sys.executable, "-m", "bench.serve_fake", kind, "--people", str(people), "--seed", str(seed)]
    command += ["--latency-ms", str(latency_ms)]
    if budget is not None:
        command += ["--budget", str(budget)]
    process = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the fake listens, or ends empty if it died
        if not line.startswith("READY "):
            raise RuntimeError(f"the fake {kind} did not start (exit code {process.poll()})")
        yield FakeProcess(kind=kind, process=process, url=f"http://127.0.0.1:{int(line.split()[1])}")
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    """Ask a child to end (SIGTERM), and kill it if it has not within ten seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_child(module: str, args: Sequence[str], *, timeout: float | None = None) -> dict[str, Any]:
    """Run `python -m <module> <args>` and parse the JSON it prints last; its stderr passes through."""
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live child process used so far (from /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15
