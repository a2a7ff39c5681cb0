import pytest

# tests/support's helpers assert too: have pytest rewrite their asserts as it does a test's, so a failure shows the
# values compared. This package is imported before any conftest, so before tests.support, which rewriting needs.
pytest.register_assert_rewrite("tests.support")
