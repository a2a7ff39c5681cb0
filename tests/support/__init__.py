"""The tests' own library: plain modules that test modules and conftest.py files import.

Fixtures live in conftest.py files, and in `api_fixtures`, the one plugin module (the root conftest registers it
because tests/api and tests/reliability both use its fixtures). Everything else a test shares lives here, so no
test imports a conftest or another test module (`tests/test_layout.py` checks it).

- `database`: the `Database` a test gets from the `db` fixture, and the private PostgreSQL database behind it.
- `leaks`: the secrets the whole session watches for, and the API tests' per-test `LeakGuard`.
- `factories`: people, pipeline documents (rules), and putting people into a memory HR system.
- `harness`: one pipeline, its runs requested as the API does and executed through the worker's step sequence.
- `systems`: the harness on a BambooHR fake and a Moodle fake; `service`: the whole service for the e2e tests.
- `api`: driving the API as a client does; `assertions`: checks several folders make.
- `connectors`: the connector tests' shared settings; `chaos`, `explore`, `figures`: the reliability suite's tools.

pytest rewrites the asserts in these modules as it does a test's (`tests/__init__.py` asks it to).
"""
