"""enrolsync's benchmarks: `python -m bench` (see `bench/__main__.py`). Not part of the package or the test suite."""
