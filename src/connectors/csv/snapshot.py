"""What the last accepted file looked like, carried in the pipeline's checkpoint, and the refusal of a new file
that does not look like a successor of it (its header changed, or it lost rows sharply).

The engine hands a snapshot source its last checkpoint on every read, and stores a new one only after a run
applied cleanly: so "the last accepted file" is the last file whose changes reached the target.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.parse import Shape
from enrolsync.connectors.errors import Invalid

LISTED = 10  # column names a refusal names at most


class Baseline(BaseModel):
    """The last accepted file: its header, data rows, bytes' hash, and the mapping it was read with."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    v: int = 1
    header: tuple[str, ...]
    rows: int
    sha256: str
    mapping: str

    def encode(self) -> Cursor:
        return Cursor(self.model_dump_json())


def mapping_fingerprint(config: CsvConfig) -> str:
    """Changes when the admin changes the column mapping or raises `accept_revision`: either accepts a new file."""
    basis = {
        "columns": config.columns.model_dump(mode="json"),
        "custom": dict(sorted(config.custom.items())),
        "revision": config.accept_revision,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def decode(cursor: Cursor) -> Baseline:
    """Raises `Invalid` for a cursor this connector did not make."""
    try:
        return Baseline.model_validate_json(cursor)
    except ValidationError:
        raise Invalid("the stored checkpoint was not made by the csv connector") from None


def baseline_of(shape: Shape, config: CsvConfig) -> Baseline:
    return Baseline(header=shape.header, rows=shape.rows, sha256=shape.sha256, mapping=mapping_fingerprint(config))


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _header_change(old: tuple[str, ...], new: tuple[str, ...]) -> str:
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    parts = [f"added {_names(added)}" if added else "", f"removed {_names(removed)}" if removed else ""]
    said = "; ".join(p for p in parts if p) or "the same columns in another order"
    return f"the header changed since the last accepted file ({said})"


def refusal(last: Baseline | None, shape: Shape, config: CsvConfig) -> str | None:
    """Why this file must not be synced, or None. Compared only with a baseline read under the same mapping and
    revision: changing either is how an admin accepts a file that was refused."""
    if last is None or last.mapping != mapping_fingerprint(config):
        return None
    how = "; if it is intended, raise `accept_revision` on the connection (or update the column mapping)"
    if shape.header != last.header:
        return f"{_header_change(last.header, shape.header)}: the file was refused, nothing was synced{how}"
    floor = last.rows * (1 - config.max_row_drop)
    if shape.rows < floor:
        drop = 1 - shape.rows / last.rows
        return (
            f"the file has {shape.rows} rows, {drop:.0%} fewer than the {last.rows} of the last accepted file "
            f"(at most {config.max_row_drop:.0%} fewer are accepted): a truncated export? The file was refused, "
            f"nothing was synced{how}"
        )
    return None
