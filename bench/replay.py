"""The physical limit: how fast the fake LMS serves the initial sync's write requests with no engine behind them.

    python -m bench.replay --lms URL --file WRITES.jsonl

The initial sync's fake LMS wrote down each write request it served, in the order it served them (`--record`);
here a fresh fake (the same courses and roles, so the same ids come out) gets the same requests again from a
tight loop: one keep-alive connection, the bodies already encoded, nothing computed between calls. The wall time
of that loop is what the fake itself needs for the writes, the floor under the engine's apply. Sequential on
purpose: replayed in their recorded order, creates come before the enrolments that name their ids. Prints one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import httpx


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def refused(response: httpx.Response) -> bool:
    """An HTTP error, or Moodle's way of failing a call: 200 with an `exception` body."""
    if response.is_error:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "exception" in body


def replay(lms_url: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    with httpx.Client(base_url=lms_url, timeout=120) as http:
        http.post("/_bench/reset").raise_for_status()
        errors = 0
        started = time.perf_counter()
        for call in calls:
            headers = {"content-type": call["content_type"]} if call["content_type"] else {}
            response = http.request(call["method"], call["path"], content=call["body"].encode(), headers=headers)
            errors += refused(response)
        wall = time.perf_counter() - started
        stats = http.post("/_bench/stats").json()["result"]
    return {
        "write_requests": len(calls),
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(calls) / wall, 1) if wall else None,
        "fake_cpu_s": stats["cpu_seconds"],
        "fake_writes": stats["writes"],
        "errors": errors,  # more than a few: the replay went astray (ids that differ), and the figure is off
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--lms", required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(replay(args.lms, load(args.file))), flush=True)


if __name__ == "__main__":
    main()
