"""What the figures were measured on: cores, CPU model, load, for the README line under the table."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` in a /proc/cpuinfo text (`unknown CPU` when there is none, e.g. on ARM boards)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return " ".join(value.split())
    return "unknown CPU"


def describe() -> dict[str, Any]:
    """Cores this process may use, CPU model, memory, Python, and the load average when the run began."""
    text = CPUINFO.read_text() if CPUINFO.exists() else ""
    memory_kb = next((int(line.split()[1]) for line in _meminfo().splitlines() if line.startswith("MemTotal:")), None)
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(text),
        "memory_gb": round(memory_kb / 1024 / 1024, 1) if memory_kb else None,
        "python": platform.python_version(),
        "arch": platform.machine(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],  # other work on the machine stretches walls
    }


def _meminfo() -> str:
    path = Path("/proc/meminfo")
    return path.read_text() if path.exists() else ""


def one_line(machine: dict[str, Any]) -> str:
    """`2 cores, AMD EPYC ..., 7.8 GB, Python 3.11.9` for the line under the table."""
    parts = [f"{machine.get('cores', '?')} cores", str(machine.get("cpu_model", "unknown CPU"))]
    if machine.get("memory_gb"):
        parts.append(f"{machine['memory_gb']} GB")
    parts.append(f"Python {machine.get('python', '?')}")
    return ", ".join(parts)
