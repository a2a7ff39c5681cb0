"""`POST /connections/{id}/uploads`: a file for a csv connection of `origin: upload`; `GET` lists the kept ones.

The body is the file itself (`Content-Type: text/csv` or `application/octet-stream`), read from the request stream
chunk by chunk and written to the database as it comes (`sync/jobs/uploads.py`), so no worker needs this machine's
disk and no file is held whole in memory. It is refused with problem+json, and nothing of it kept, when it is over
the size cap (413), empty or not text in the connection's encoding (422), or of another media type (415). The
middleware's 1 MiB body limit does not apply here (`api/limits.py`); this route caps the stream itself.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect

from enrolsync.api import audit
from enrolsync.api.auth import Admin, Viewer
from enrolsync.api.deps import BoxDep, ClockDep, QueueDep, RegistryDep, SessionDep, SettingsDep
from enrolsync.api.problems import BAD_REQUEST, Problem, conflict, invalid_field, not_found, problem_responses
from enrolsync.api.schemas_uploads import UploadPublic, UploadReceipt, UploadRunPublic, UploadsPublic
from enrolsync.sync.jobs import uploads as receiving
from enrolsync.sync.store import uploads
from enrolsync.sync.store.tables import Connection, Upload

router = APIRouter(prefix="/connections", tags=["uploads"])
log = structlog.get_logger("enrolsync.api")

MEDIA_TYPES = ("text/csv", "application/octet-stream")
_BODY = {
    "required": True,
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES},
}


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
    if media not in MEDIA_TYPES:
        shown = media or "none"
        raise Problem(415, f"send the file as the body with Content-Type text/csv (got {shown})", type_=BAD_REQUEST)
    return media


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
    _refuse_declared(request, target.cap)
    try:
        received = await receiving.receive(
            session, target, request.stream(), filename=filename, content_type=media,
            uploaded_by=principal.subject, queue=queue,
        )  # fmt: skip
    except receiving.UploadTooLarge as error:
        raise Problem(413, str(error)) from None
    except receiving.UploadRefused as error:
        raise invalid_field("body", f"{error}; nothing was kept", "unreadable_file") from None
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
