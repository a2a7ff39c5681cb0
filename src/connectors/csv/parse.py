"""Reading an export file from local disk: its encoding and delimiter, its header, and its records one by one.

Pure of the network: the connector downloads the file first, so the whole file is inspected (counted, checked
for a truncated last record) before the first person reaches the engine. Nothing here holds the file in memory:
records stream from the open file, and detection looks at a sample of the first bytes only.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

from enrolsync.connectors.errors import Invalid

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

# A field may be as long as a whole (capped) file, never longer; the csv module's default limit is 128 KiB.
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class Shape:
    """What one pass over a file found: how to read it and how many data records it has."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    rows: int
    sha256: str


class Dialect(csv.excel):
    """RFC 4180 quoting (double quotes, doubled to escape), with the delimiter set per file."""

    strict = True


def detect_encoding(sample: bytes, configured: str | None) -> str:
    """The file's encoding: as configured (a UTF-8 BOM tolerated), else from a BOM, else UTF-8 when the sample is
    UTF-8, else charset-normalizer's best guess on the sample (Excel's "CSV" save is cp1252 on Western Windows)."""
    if configured is not None:
        name = codecs.lookup(configured).name
        return "utf-8-sig" if name == "utf-8" else name
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise Invalid("the file's text encoding could not be detected; set `encoding` on the connection")
    return best.encoding


def detect_delimiter(text: str, configured: str | None) -> str:
    """The delimiter as configured, else the candidate (, ; tab |) found most often in the header line, outside
    quotes. The header is the one line every export gets right; csv.Sniffer weighs all sample lines alike, so one
    short row defeats it, and it prefers a comma whenever one appears at all."""
    if configured is not None:
        return configured
    header = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def _sample(path: Path) -> bytes:
    with path.open("rb") as raw:
        return raw.read(SAMPLE_BYTES)


def _header(row: list[str]) -> tuple[str, ...]:
    header = tuple(name.strip() for name in row)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise Invalid(f"the header names a column more than once: {', '.join(duplicates)}")
    return header


def records(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (1 = the header), blank lines skipped.

    Raises:
        Invalid: the file is not text in `encoding`, or ends inside a quoted field (a truncated file).
    """
    with path.open(encoding=encoding, newline="") as text:
        reader = csv.reader(text, Dialect, delimiter=delimiter)
        start = 1
        try:
            for row in reader:
                if row:
                    yield start, row
                start = reader.line_num + 1
        except UnicodeDecodeError as error:
            raise Invalid(
                f"the file is not valid {encoding} (after line {reader.line_num}); set `encoding` on the connection"
            ) from error
        except csv.Error as error:
            raise Invalid(f"the file could not be read as CSV at line {reader.line_num}: {error}") from error


def header_of(sample: bytes, *, encoding: str | None, delimiter: str | None) -> tuple[str, ...]:
    """The header row from the first bytes of a file (what `check` reads instead of the whole file).

    Raises:
        Invalid: an empty sample, or a header longer than the sample.
    """
    if not sample.strip():
        raise Invalid("the file is empty: no header row")
    found = detect_encoding(sample, encoding)
    text = codecs.getincrementaldecoder(found)(errors="replace").decode(sample, final=False)
    if "\n" not in text and len(sample) >= SAMPLE_BYTES:
        raise Invalid(f"the header row is longer than {SAMPLE_BYTES} bytes")
    reader = csv.reader(io.StringIO(text), Dialect, delimiter=detect_delimiter(text, delimiter))
    return _header(next(reader))


def inspect(path: Path, *, encoding: str | None, delimiter: str | None) -> Shape:
    """One pass over the file: detect how to read it, read its header, count its records, hash its bytes.

    Raises:
        Invalid: an empty file, no header, an undecodable or truncated file (see `records`).
    """
    sample = _sample(path)
    if not sample.strip():
        raise Invalid("the file is empty: no header row")
    found = detect_encoding(sample, encoding)
    text = codecs.getincrementaldecoder(found)(errors="replace").decode(sample, final=False)
    sep = detect_delimiter(text, delimiter)
    rows = records(path, found, sep)
    _, first = next(rows)
    header = _header(first)
    count = sum(1 for _ in rows)
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(1024 * 1024):
            digest.update(chunk)
    return Shape(encoding=found, delimiter=sep, header=header, rows=count, sha256=digest.hexdigest())
