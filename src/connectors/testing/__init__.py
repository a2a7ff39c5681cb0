"""Test support shipped in the wheel (extra `enrolsync[testing]`) so third-party connectors reuse it."""
