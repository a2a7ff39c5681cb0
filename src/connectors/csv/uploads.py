"""Files uploaded to the API (`origin: upload`): what an upload must be to be accepted, and how a run reads one.

**The seam.** A connector keeps no storage and never imports the engine, yet an upload must reach whichever worker
runs the pipeline, on whichever machine. So the engine keeps uploads in the database and, for a `csv` connection,
hands the connector an HTTP client whose transport answers `GET uploads/newest` from those rows, streamed chunk by
chunk (`sync/run/uploads.py`), the way it serves `scim-inbound` its stored SCIM state. The connector copies that
answer to its private temporary folder block by block, then reads the copy exactly as it reads a file fetched over
SFTP: the same inspection, the same refusals of a changed header or a sharp drop in rows, the same pages. Nothing
crosses the network and nothing is held whole in memory.

**At upload time** (`TextCheck`) the API refuses, before the file is kept, what no run could read: an empty file,
or bytes that are not text in the encoding the run would use (configured, or detected from the same first 64 KiB
the run looks at). The header and the rows are judged by the run, where the reasons are recorded.
"""

from __future__ import annotations

import asyncio
import codecs
from pathlib import Path

import httpx

from enrolsync.connectors.csv.parse import SAMPLE_BYTES, detect_encoding
from enrolsync.connectors.errors import ConnectorError, Invalid, NotFound, TransientError
from enrolsync.connectors.kit.errors import classify, transport_errors

NEWEST = "uploads/newest"  # relative to the client's base URL; only the engine's transport answers it
NOTHING_UPLOADED = "no file has been uploaded to this connection yet (POST /connections/{id}/uploads)"


class TextCheck:
    """Follows an upload as it streams in, holding at most its first `SAMPLE_BYTES`: is it non-empty text in the
    encoding a run will read it with, and how many lines has it (an estimate of the rows: a quoted field may hold
    a line break).

    `feed` each chunk in order, then `finish`. Both raise `Invalid` with the reason a person can act on.
    """

    def __init__(self, *, encoding: str | None) -> None:
        self._configured = encoding
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None
        self._encoding = ""
        self._offset = 0  # bytes decoded so far, to say where an undecodable byte is
        self._lines = 0
        self._text = False  # anything but white space seen
        self._ends_line = True

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            self._head += chunk
            if len(self._head) >= SAMPLE_BYTES:
                self._start()
            return
        self._decode(chunk, final=False)

    def finish(self) -> int:
        """The number of lines. Raises `Invalid` for an empty or undecodable file."""
        if self._decoder is None:
            if not self._head.strip():
                raise Invalid("the file is empty: no header row")
            self._start()
        self._decode(b"", final=True)
        if not self._text:
            raise Invalid("the file holds no text: no header row")
        return self._lines + (0 if self._ends_line else 1)

    def _start(self) -> None:
        self._encoding = detect_encoding(self._head[:SAMPLE_BYTES], self._configured)
        self._decoder = codecs.getincrementaldecoder(self._encoding)(errors="strict")
        head, self._head = self._head, b""
        self._decode(head, final=False)

    def _decode(self, data: bytes, *, final: bool) -> None:
        if self._decoder is None:
            return  # not started: `feed` and `finish` start it first
        held = len(self._decoder.getstate()[0])  # bytes of a character begun in the last chunk, not yet decoded
        try:
            text = self._decoder.decode(data, final=final)
        except UnicodeDecodeError as error:
            at = self._offset - held + max(error.start, 0)
            raise Invalid(
                f"the file is not valid {self._encoding} (byte {at}); save it as UTF-8, or set `encoding` on the "
                "connection"
            ) from None
        self._offset += len(data)
        if text:
            self._lines += text.count("\n")
            self._text = self._text or bool(text.strip())
            self._ends_line = text.endswith("\n")


def _error(response: httpx.Response) -> ConnectorError:
    if response.status_code == 404:
        return NotFound(NOTHING_UPLOADED)
    return classify(response) or TransientError(f"unexpected answer {response.status_code}")


async def download(http: httpx.AsyncClient, local: Path, cap: int) -> None:
    """Copy the connection's newest upload to `local`, chunk by chunk.

    Raises:
        NotFound: nothing was uploaded yet.
        Invalid: the upload is larger than `cap` (`max_file_bytes`, lowered after it was uploaded).
        TransientError: the copy was cut short (the upload was pruned while it was read), or the store failed.
    """
    copied = 0
    async with transport_errors(), http.stream("GET", NEWEST) as response:
        if response.status_code != 200:
            raise _error(response)
        declared = int(response.headers.get("Content-Length", "-1"))
        if declared > cap:
            raise Invalid(f"the upload is {declared} bytes, over max_file_bytes ({cap}): refused")
        out = await asyncio.to_thread(local.open, "wb")
        try:
            async for chunk in response.aiter_raw():
                copied += len(chunk)
                if copied > cap:
                    raise Invalid(f"the upload is over max_file_bytes ({cap}): refused")
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
    if declared >= 0 and copied != declared:
        raise TransientError(f"the upload was cut short ({copied} of {declared} bytes)")


async def probe(http: httpx.AsyncClient, sample_bytes: int) -> tuple[int, bytes]:
    """The newest upload's size and first `sample_bytes` (the rest is not read). Raises as `download` does."""
    sample = b""
    async with transport_errors(), http.stream("GET", NEWEST) as response:
        if response.status_code != 200:
            raise _error(response)
        async for chunk in response.aiter_raw():
            sample += chunk
            if len(sample) >= sample_bytes:
                break
        return int(response.headers.get("Content-Length", len(sample))), sample[:sample_bytes]
