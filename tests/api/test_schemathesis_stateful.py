"""Stateful property tests of the API (schemathesis): sequences of calls that follow the links between operations.

Schemathesis infers the links from the document itself (an `id` a create answers feeds the `{id}` of a read,
update or delete), so generated sequences reach real connections, pipelines and runs instead of stopping at 404
and 422. Every answer along a sequence must be no 5xx and conform to the document. Bounded and derandomized.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, Response, checks

from enrolsync.connectors.memory.state import Dataset
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import employee as person
from tests.support.factories import seed

# Our ids: 32 hex digits, as every create answers them.
IDS = re.compile(r'"id":"([0-9a-f]{32})"')
EXCLUDED = [checks.positive_data_acceptance, checks.ignored_auth]


def _drive(document: dict[str, Any], client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> int:
    """Run the state machine in this (worker) thread; return how many calls named a resource an earlier answer
    of the same run had created or listed (the proof that the sequences follow links)."""
    schema = schemathesis.openapi.from_dict(document)
    machine = schema.as_state_machine()
    seen: set[str] = set()
    linked = 0

    class Machine(machine):  # type: ignore[misc,valid-type]
        def call(self, case: Case[Any], **kwargs: Any) -> Any:
            nonlocal linked
            linked += any(str(value) in seen for value in (case.path_parameters or {}).values())
            kw = case.as_transport_kwargs(base_url=str(client.base_url))
            given = {k.lower(): v for k, v in (kw.get("headers") or {}).items()}
            headers = {k: v for k, v in given.items() if k != "authorization"}
            request = client.build_request(
                kw["method"], kw["url"], params=kw.get("params"), headers=headers,
                json=kw.get("json"), content=kw.get("data"),
            )  # fmt: skip
            if "authorization" not in given:
                # A case that leaves the bearer token out must go without it: the API has to refuse it.
                del request.headers["authorization"]
            answer = asyncio.run_coroutine_threadsafe(client.send(request), loop).result(timeout=30)
            seen.update(IDS.findall(answer.text))
            return Response.from_any(answer)

        def validate_response(self, response: Any, case: Case[Any], **kwargs: Any) -> None:
            case.validate_response(response, headers=dict(client.headers), excluded_checks=EXCLUDED)

    Machine.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    return linked


async def test_sequences_of_linked_calls_keep_the_documented_promises(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    seed(memory[1], person("M"), person("A", manager="M"))
    pipeline_id = await create_pipeline(client, ends)
    await run(client, execute, pipeline_id, mode="plan")
    document = (await client.get("/openapi.json")).json()
    # `/scim/v2` answers only a connection's SCIM token (scim2-tester drives it in test_scim_inbound.py): with an
    # admin's token every call is a 401, which would only thin out the linked sequences here.
    document["paths"] = {p: ops for p, ops in document["paths"].items() if not p.startswith("/scim/")}
    schema = schemathesis.openapi.from_dict(document)
    schema.as_state_machine()
    # The links schemathesis infers from the document (create -> read/update/delete, pipeline -> its runs, ...).
    assert schema.statistic.transitions.selected >= 20

    linked = await asyncio.to_thread(_drive, document, client, asyncio.get_running_loop())

    # Every answer was checked inside the run; here: the sequences did reach real resources, not only 404s.
    assert linked >= 5
