"""The machine line under the README table, and how the bench's options and presets resolve."""

from __future__ import annotations

from bench.machine import cpu_model, one_line
from bench.options import default_burst_sizes, naive_sample, parse

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC  7B13 64-Core Processor
processor\t: 1
model name\t: AMD EPYC  7B13 64-Core Processor
"""


def test_cpu_model_is_the_first_model_name_with_spaces_collapsed() -> None:
    assert cpu_model(CPUINFO) == "AMD EPYC 7B13 64-Core Processor"
    assert cpu_model("processor\t: 0\nFeatures\t: fp asimd\n") == "unknown CPU"


def test_one_line_names_cores_model_memory_and_python() -> None:
    line = one_line({"cores": 2, "cpu_model": "AMD EPYC", "memory_gb": 7.8, "python": "3.11.9"})
    assert line == "2 cores, AMD EPYC, 7.8 GB, Python 3.11.9"


def test_quick_preset_fills_what_is_not_given_and_yields_to_what_is() -> None:
    quick = parse(["--quick"])
    assert quick.sizes == [500]
    assert quick.demo_people < 5000
    assert parse(["--quick", "--sizes", "50", "--demo-people", "5000"]).sizes == [50]
    assert parse(["--quick", "--sizes", "50", "--demo-people", "5000"]).demo_people == 5000
    full = parse(["--sizes", "10_000,100000", "--scenarios", "1,2,42", "--latencies", "0,20"])
    assert full.sizes == [10_000, 100_000]
    assert full.scenarios == frozenset({1, 2})  # an unknown scenario is ignored
    assert full.latencies == [0.0, 20.0]
    assert full.workers_size == 100_000  # the largest size by default
    assert full.events == 500 and full.concurrency == 20


def test_the_burst_runs_at_the_smallest_size_with_people_to_move() -> None:
    assert default_burst_sizes([1000, 10_000, 100_000], events=500) == [1000]
    assert default_burst_sizes([500, 10_000], events=500) == [10_000]
    assert default_burst_sizes([50], events=500) == [50]


def test_the_naive_sample_fits_the_time_given_and_never_exceeds_the_company() -> None:
    assert naive_sample(1000, latency_ms=0, seconds=60) == 1000
    at_100_ms = naive_sample(1000, latency_ms=100, seconds=60)
    assert 100 < at_100_ms < 200  # about 0.45 s a person
    assert naive_sample(1000, latency_ms=100, seconds=1) == 20  # never fewer than 20
