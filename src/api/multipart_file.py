"""The one file of a `multipart/form-data` body, streamed: what `curl -F file=@people.csv` and a browser form send.

python-multipart's push parser (the one Starlette's form parsing is built on) is fed the request's chunks as they
arrive, and the file part's bytes come out as they are parsed: the file is never held whole, nor spooled to this
machine's disk as `request.form()` would. Fields that are not files are skipped; a second file is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MEDIA_TYPE = "multipart/form-data"
MAX_HEADERS_BYTES = 16 * 1024  # of all part headers together: they are buffered


class FormError(Exception):
    """The body is not a form with exactly one file; the message says what is wrong."""


class FormTooLarge(FormError):
    """The form is larger than the limit (the file's cap, and room for the rest of the form)."""


class FilePart:
    """Parses a form body as it streams. `await open()` reads up to the file's first bytes (then `filename` and
    `content_type` are known); `chunks()` yields the file's bytes. Both raise `FormError`."""

    def __init__(self, body: AsyncIterator[bytes], content_type: str, *, limit: int) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise FormError("a multipart/form-data body needs a boundary in its Content-Type")
        self._body = body
        self._limit = limit  # raw bytes read at most: the file, plus whatever else the form carries
        self._read = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_end": self._end,
            },
        )
        self._field, self._value = b"", b""
        self._headers: dict[bytes, bytes] = {}
        self._files = 0
        self._in_file = False
        self._out: list[bytes] = []
        self._ended = False  # the closing boundary was seen: a form cut short never passes for a whole file
        self.filename: str | None = None
        self.content_type = "application/octet-stream"

    def _part_begin(self) -> None:
        self._headers, self._in_file = {}, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._guard_headers()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._guard_headers()

    def _guard_headers(self) -> None:
        if len(self._field) + len(self._value) + sum(len(k) + len(v) for k, v in self._headers.items()) > (
            MAX_HEADERS_BYTES
        ):
            raise FormError("a form part's headers are too long")

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"filename" not in options:
            return  # a plain field: skipped
        self._files += 1
        self._in_file = self._files == 1
        if self._in_file:
            self.filename = options[b"filename"].decode("utf-8", "replace")[:255] or None
            media = self._headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            self.content_type = media[:100] or self.content_type

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._out.append(data[start:end])

    def _end(self) -> None:
        self._ended = True

    async def _feed(self) -> bool:
        """Parse the next chunk of the body; False at its end."""
        chunk = await anext(self._body, None)
        try:
            if chunk is None:
                self._parser.finalize()
                if not self._ended:
                    raise FormError("the form ends before its closing boundary: was it cut short?")
                return False
            self._read += len(chunk)
            if self._read > self._limit:
                raise FormTooLarge(f"the form is larger than {self._limit} bytes")
            self._parser.write(chunk)
        except FormParserError as error:
            raise FormError(f"the body is not a valid multipart/form-data form ({error})") from None
        if self._files > 1:
            raise FormError("send one file per upload")
        return True

    async def open(self) -> None:
        while self._files == 0:
            if not await self._feed():
                raise FormError("the form has no file field (e.g. curl -F file=@people.csv)")

    async def chunks(self) -> AsyncIterator[bytes]:
        more = True
        while more:
            out, self._out = self._out, []
            for piece in out:
                yield piece
            more = await self._feed()
        for piece in self._out:
            yield piece
