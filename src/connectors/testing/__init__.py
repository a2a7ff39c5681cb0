"""Test support shipped in the wheel, so third-party connectors reuse it. `fakes` (the base every shipped fake is
built on) needs only the base install; `contract` and `openapi` need the extra `enrolsync[testing]`."""
