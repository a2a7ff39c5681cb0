"""The tests' own library: plain modules that test modules and conftest.py files import.

Fixtures live in conftest.py files (and in `api_fixtures`, the one plugin module, registered by the root conftest
because two folders share it); everything else a test needs from elsewhere lives here, so no test imports a
conftest or another test module (`tests/test_layout.py` checks it).

- `database`: the `Database` a test gets from the `db` fixture, and the private PostgreSQL database behind it.
- `secrets`: the secrets the whole session watches for, and the API tests' per-test `LeakGuard`.
- `factories`: people, pipeline documents (rules) and seeding the memory HR system.
- `harness`: requesting and executing runs in-process, as a worker does, and reading what they wrote.
- `systems`: the harness on a BambooHR fake and a Moodle fake, and what a person can see on the fake site.
- `api`: driving the API as a client does (pipelines, runs, tokens, the app's clock); `assertions`: shared checks.
- `connectors`: the connector tests' shared settings; `chaos`, `explore`, `figures`: the reliability suite's tools.
"""
