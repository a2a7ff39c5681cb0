"""The uploaded files of a `csv` connection, served to its connector as a read-only HTTP resource.

The connector reads an uploaded file through its HTTP client (`connectors/csv/uploads.py` explains the seam); for
a `csv` connection the client factory hands it this transport, which answers `GET .../uploads/newest` with the
connection's newest complete upload, streamed from the database a chunk at a time. So whichever worker runs the
pipeline reads the file the API stored, and never the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store import uploads
from enrolsync.sync.store.tables import Upload

UPLOAD_ID_HEADER = "X-Upload-Id"


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], upload: Upload) -> None:
        self._sessions = sessions
        self._upload = upload

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in uploads.read_chunks(self._sessions, self._upload):
                yield chunk
        except LookupError as error:
            # A transport failure to the reader: retried, and the retry reads the upload that is newest by then.
            raise httpx.ReadError(str(error)) from None


class StoredUploadTransport(httpx.AsyncBaseTransport):
    """Serves one connection's newest upload, read-only."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], connection_id: str) -> None:
        self._sessions = sessions
        self._connection_id = connection_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or not request.url.path.rstrip("/").endswith("/uploads/newest"):
            return httpx.Response(404, text="not served")
        async with self._sessions() as session:
            upload = await uploads.newest(session, connection_id=self._connection_id)
        if upload is None:
            return httpx.Response(404, text="nothing uploaded")
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(upload.size),
            UPLOAD_ID_HEADER: upload.id,
        }
        return httpx.Response(200, headers=headers, stream=_Chunks(self._sessions, upload))
