"""Send User writes through /Bulk when the server offers it, else one request each; one result per write.

A Bulk request carries no `failOnErrors`, so the server applies every operation and answers each with its own
status (RFC 7644 section 3.7): a record the server refuses fails alone. When the server refuses a whole Bulk
request (a body it cannot parse, too large), the batch is split in halves until the refused record stands alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from scim2_models import BulkOperation, BulkRequest, BulkResponse, Context, Error, PatchOp

from enrolsync.connectors.errors import AuthError, PermanentError, TransientError
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import OpResult
from enrolsync.connectors.scim.client import Answer, ScimClient
from enrolsync.connectors.scim.errors import op_result
from enrolsync.connectors.scim.models import Features, ScimUser

_CONTEXT = {
    "POST": Context.RESOURCE_CREATION_REQUEST,
    "PUT": Context.RESOURCE_REPLACEMENT_REQUEST,
    "PATCH": Context.RESOURCE_PATCH_REQUEST,
}


@dataclass(frozen=True)
class Write:
    """One User write for one op: `index` is the op's place in the batch; `version` goes out as If-Match."""

    index: int
    method: Literal["POST", "PUT", "PATCH"]
    path: str  # "/Users" or "/Users/{id}"
    data: ScimUser | PatchOp[ScimUser]
    version: str | None = None

    def body(self) -> dict[str, Any]:
        return self.data.model_dump(scim_ctx=_CONTEXT[self.method])


def created_id(body: dict[str, Any] | None, location: str | None) -> str | None:
    """The id of a created resource: from the answer body, else the last segment of its Location."""
    if body and body.get("id"):
        return str(body["id"])
    if location:
        return location.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def _done(write: Write, new_id: str | None) -> OpResult:
    account_id = new_id if write.method == "POST" else write.path.rsplit("/", 1)[-1]
    if not account_id:
        return OpResult.failed("the server answered a create without the new resource's id or location")
    return OpResult.done(ExternalRef(kind="account", id=account_id))


class Sender:
    def __init__(self, client: ScimClient, features: Features, *, use_bulk: bool, bulk_size: int) -> None:
        self._client = client
        self._features = features
        limit = min(bulk_size, features.bulk_max_operations or bulk_size)
        self._bulk_size = limit if use_bulk and features.bulk else 0

    async def send(self, writes: list[Write], out: dict[int, OpResult]) -> None:
        """Apply `writes`, recording each outcome in `out`. Raises a whole-call failure (auth, transient)."""
        if self._bulk_size > 1 and len(writes) > 1:
            for start in range(0, len(writes), self._bulk_size):
                await self._bulk(writes[start : start + self._bulk_size], out)
            return
        for write in writes:
            await self._single(write, out)

    async def _single(self, write: Write, out: dict[int, OpResult]) -> None:
        try:
            answer: Answer = await self._client.write(write.method, write.path.lstrip("/"), write.body(),
                                                      if_match=write.version)  # fmt: skip
        except AuthError:
            raise
        except PermanentError as error:
            out[write.index] = OpResult.failed(error.reason, status=error.status)
            return
        except TransientError as error:
            if error.status != 412:
                raise  # the server is busy or down: a whole-call failure
            out[write.index] = OpResult.retry(error.reason, status=412)  # changed since read: re-read, then retry
            return
        out[write.index] = _done(write, created_id(answer.body, answer.location))

    def _request(self, writes: list[Write]) -> dict[str, Any]:
        operations = [
            BulkOperation[ScimUser](
                method=w.method, path=w.path, bulk_id=f"op{w.index}", version=w.version, data=w.data
            )
            for w in writes
        ]
        return BulkRequest[ScimUser](operations=operations).model_dump(scim_ctx=Context.BULK_REQUEST)

    async def _bulk(self, writes: list[Write], out: dict[int, OpResult]) -> None:
        body = self._request(writes)
        limit = self._features.bulk_max_payload
        if limit and len(json.dumps(body).encode()) > limit and len(writes) > 1:
            await self._halves(writes, out)
            return
        try:
            answer = await self._client.write("POST", "Bulk", body)
        except AuthError:
            raise
        except PermanentError as error:
            if len(writes) == 1:
                out[writes[0].index] = OpResult.failed(error.reason, status=error.status)
            else:  # the server refused the request as a whole: find the record it could not take
                await self._halves(writes, out)
            return
        self._record(writes, answer.body, out)

    async def _halves(self, writes: list[Write], out: dict[int, OpResult]) -> None:
        middle = len(writes) // 2
        if middle == 0:
            await self._single(writes[0], out)
            return
        await self._bulk(writes[:middle], out)
        await self._bulk(writes[middle:], out)

    def _record(self, writes: list[Write], body: dict[str, Any] | None, out: dict[int, OpResult]) -> None:
        try:
            response = BulkResponse[ScimUser].model_validate(body, scim_ctx=Context.BULK_RESPONSE)
        except ValidationError as error:
            raise PermanentError("unexpected answer shape from /Bulk") from error
        answered = {op.bulk_id: op for op in response.operations or []}
        for write in writes:
            op = answered.get(f"op{write.index}")
            status = int(op.status or 0) if op is not None else 0
            if op is None or status == 0:
                # Not processed (the server stopped early): nothing happened, so sending it again is safe.
                out[write.index] = OpResult.retry("the server did not process this operation of the Bulk request")
            elif status < 300:
                out[write.index] = _done(write, created_id(None, op.location))
            else:
                refused = op.response if isinstance(op.response, Error) else None
                out[write.index] = op_result(status, refused)
