"""`POST /connections/{id}/uploads`: a file for a csv connection of `origin: upload`; `GET` lists the kept ones.

The body is the file itself (`Content-Type: text/csv` or `application/octet-stream`), or a `multipart/form-data`
form with one file field (`api/multipart_file.py`), read from the request stream chunk by chunk and written to the
database as it comes (`sync/jobs/uploads.py`), so no worker needs this machine's disk and no file is held whole in
memory. It is refused with problem+json, and nothing of it kept, when it is over the size cap (413), empty or not
text in the connection's encoding (422), not a form with one file (400), or of another media type (415). The
middleware's 1 MiB body limit does not apply here (`api/limits.py`); this route caps the stream itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect

from enrolsync.api import audit
from enrolsync.api.auth import Admin, Viewer
from enrolsync.api.deps import BoxDep, ClockDep, QueueDep, RegistryDep, SessionDep, SettingsDep
from enrolsync.api.multipart_file import MEDIA_TYPE as FORM
from enrolsync.api.multipart_file import FilePart, FormError, FormTooLarge
from enrolsync.api.problems import BAD_REQUEST, Problem, conflict, invalid_field, not_found, problem_responses
from enrolsync.api.schemas_uploads import UploadPublic, UploadReceipt, UploadRunPublic, UploadsPublic
from enrolsync.sync.jobs import uploads as receiving
from enrolsync.sync.store import uploads
from enrolsync.sync.store.tables import Connection, Upload

router = APIRouter(prefix="/connections", tags=["uploads"])
log = structlog.get_logger("enrolsync.api")

MEDIA_TYPES = ("text/csv", "application/octet-stream")
FORM_OVERHEAD = 1024 * 1024  # a form's boundaries, part headers and other fields, on top of the file's own cap
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FORM = {
    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
}
_BODY = {"required": True, "content": {**{media: _BINARY for media in MEDIA_TYPES}, FORM: _FORM}}


def upload_public(upload: Upload) -> UploadPublic:
    # Only complete uploads are shown, and completing one sets both.
    return UploadPublic(
        id=upload.id,
        connection_id=upload.connection_id,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256 or "",
        rows_estimate=max(upload.lines - 1, 0),
        uploaded_by=upload.uploaded_by,
        created_at=upload.created_at,
        completed_at=upload.completed_at or upload.created_at,
    )


async def _connection(session: SessionDep, connection_id: str) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise not_found("connection", connection_id)
    if connection.connector != "csv":
        raise conflict(f"uploads are for csv connections; this one is a {connection.connector!r} connection")
    return connection


def _media_type(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (*MEDIA_TYPES, FORM):
        shown = media or "none"
        raise Problem(
            415, f"send the file as the body with Content-Type text/csv, or as a form's file field (got {shown})",
            type_=BAD_REQUEST,
        )  # fmt: skip
    return media


async def _body(
    request: Request, media: str, cap: int, filename: str | None
) -> tuple[AsyncIterator[bytes], str, str | None]:
    """The file's bytes, its media type and its name: the body itself, or a form's one file field."""
    if media != FORM:
        return request.stream(), media, filename
    try:
        part = FilePart(request.stream(), request.headers["content-type"], limit=cap + FORM_OVERHEAD)
        await part.open()
    except FormError as error:
        raise _form_problem(error) from None
    except ClientDisconnect:
        raise Problem(400, "the upload was interrupted; nothing was kept", type_=BAD_REQUEST) from None
    return part.chunks(), part.content_type, filename or part.filename


def _form_problem(error: FormError) -> Problem:
    if isinstance(error, FormTooLarge):
        return Problem(413, f"{error}: refused, nothing was kept")
    return Problem(400, f"{error}; nothing was kept", type_=BAD_REQUEST)


def _refuse_declared(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise Problem(413, f"the file is larger than {cap} bytes: refused, nothing was kept")


@router.post(
    "/{connection_id}/uploads",
    status_code=201,
    responses=problem_responses(400, 404, 409, 413, 415, 422),
    openapi_extra={"requestBody": _BODY},
)
async def upload_file(
    connection_id: str,
    request: Request,
    principal: Admin,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    settings: SettingsDep,
    queue: QueueDep,
    now: ClockDep,
    filename: Annotated[str | None, Query(max_length=255, description="The file's name, for people to read.")] = None,
) -> UploadReceipt:
    """Upload the csv connection's next file (the request body); it becomes the connection's current file and
    starts a full applied run of each pipeline whose source the connection is. The run reads it as it reads an
    SFTP file: a changed header or a sharp drop in rows fails the run with the reason, and nothing is synced."""
    connection = await _connection(session, connection_id)
    try:
        target = receiving.target_for(
            connection, registry=registry, box=box, cap=settings.upload_max_bytes, keep=settings.uploads_kept
        )
    except receiving.NotUploadable as error:
        raise conflict(str(error)) from None
    media = _media_type(request)
    _refuse_declared(request, target.cap + (FORM_OVERHEAD if media == FORM else 0))
    body, media, filename = await _body(request, media, target.cap, filename)
    try:
        received = await receiving.receive(
            session, target, body, filename=filename, content_type=media, uploaded_by=principal.subject, queue=queue
        )
    except receiving.UploadTooLarge as error:
        raise Problem(413, str(error)) from None
    except receiving.UploadRefused as error:
        raise invalid_field("body", f"{error}; nothing was kept", "unreadable_file") from None
    except FormError as error:
        raise _form_problem(error) from None
    except ClientDisconnect:
        raise Problem(400, "the upload was interrupted; nothing was kept", type_=BAD_REQUEST) from None
    upload = received.upload
    detail = {"upload_id": upload.id, "size": upload.size, "sha256": upload.sha256, "pruned": received.pruned}
    audit.record(
        session, principal, action="connection.upload", resource_type="connection", resource_id=connection.id,
        at=now(), detail=detail,
    )  # fmt: skip
    await session.commit()
    runs = [
        UploadRunPublic(pipeline_id=r.pipeline_id, run_id=r.run_id, created=r.created, held=r.held)
        for r in received.runs
    ]
    return UploadReceipt(
        **upload_public(upload).model_dump(),
        run_requested=any(r.run_id for r in runs),
        runs=runs,
        pruned=received.pruned,
    )


@router.get("/{connection_id}/uploads", responses=problem_responses(404, 409))
async def list_uploads(connection_id: str, _: Viewer, session: SessionDep) -> UploadsPublic:
    """The connection's kept uploads (metadata only), newest first: the first is the file the next run reads."""
    connection = await _connection(session, connection_id)
    return UploadsPublic(items=[upload_public(u) for u in await uploads.listed(session, connection_id=connection.id)])
