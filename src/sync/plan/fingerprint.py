"""Fingerprints that let planning pass over a person nothing changed for (pure).

A person's desired state is a pure function of their HR record (as last read, made a leaver while gone from the
HR system), the pipeline document (with its course names resolved), their direct reports and, through dates,
the run's day. `source_fingerprint` digests those inputs; `state_digest` digests a desired or applied state.
Planning stores both on the link (`Link.source_fp`, `Link.desired_fp`) each time it evaluates someone. On a later
run, unchanged inputs and an applied state that still digests to `desired_fp` mean the desired state equals the
applied one, so `diff` would plan nothing: one comparison instead of an evaluation and a diff.

The day enters only where it can change the outcome: whether the person is a leaver today, and, for a pipeline
whose rules test tenure (`hired_within_days`), the day itself. So a re-run the next day still skips everyone
whose dates did not cross a boundary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from enrolsync.sync.rules.spec import PipelineSpec

_TENURE_OP = "hired_within_days"


def digest(document: Any) -> str:
    """A stable digest of a JSON document: equal documents (whatever their key order) give equal digests."""
    return text_digest(canonical(document))


def canonical(document: Any) -> str:
    """The JSON text `digest` hashes: sorted keys, no spaces. Valid JSON of the document, so a writer that stores
    a document and its digest (the executor's applied states) serialises it once for both."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def text_digest(text: str) -> str:
    """`digest` of the document whose `canonical` text this is."""
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def state_digest(state: Mapping[str, Any] | None) -> str | None:
    """The digest of a desired or applied state in its stored JSON form; None for none (or an empty document)."""
    return digest(state) if state else None


def _tests_tenure(document: Any) -> bool:
    if isinstance(document, dict):
        return document.get("op") == _TENURE_OP or any(_tests_tenure(value) for value in document.values())
    if isinstance(document, list):
        return any(_tests_tenure(value) for value in document)
    return False


class SpecPrint:
    """What one run's pipeline document contributes to every person's fingerprint, computed once per run."""

    def __init__(self, spec: PipelineSpec) -> None:
        document = spec.model_dump(mode="json", by_alias=True)
        self.digest = digest(document)
        self.dated = _tests_tenure(document.get("rules", []))

    def source_fingerprint(
        self, *, person: Mapping[str, Any] | str, gone: bool, reports: Iterable[str], leaver: bool, today: date
    ) -> str:
        """The digest of everything `evaluate.desired_state` reads for one person.

        Args:
            person: the HR record as stored on the link (JSON), or its digest (`Link.person_fp`, cheaper to hash).
            gone: the HR system no longer returns the person (they are evaluated as a leaver).
            reports: hr_ids of their direct reports.
            leaver: `evaluate.is_leaver` of the person today.
            today: the run's day; it counts only when the rules test tenure.
        """
        day = today.isoformat() if self.dated else None
        if not isinstance(person, str):
            return digest([self.digest, person, gone, sorted(reports), leaver, day])
        # The usual case, a stored record's digest: the parts joined as text, no JSON document built per person (a
        # full run fingerprints everyone). Unambiguous: digests are hex, and JSON escapes the separator.
        listed = json.dumps(sorted(reports), ensure_ascii=True) if reports else "[]"
        text = "\x1f".join((self.digest, person, "1" if gone else "0", listed, "1" if leaver else "0", day or "-"))
        return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
