"""What `/scim/v2/Schemas` publishes (the scim2-models schemas the service validates with) against RFC 7643's own
schema documents (section 8.7.1, copies in spec/): every attribute, with its type, plurality, mutability and
`returned`, so an identity provider reading our discovery sees the RFC's User and enterprise extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from enrolsync.sync.store.scim_state import PROVIDER

SPEC = Path(__file__).parent / "spec"


def flat(attributes: list[dict[str, Any]], prefix: str = "") -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for a in attributes:
        name = prefix + a["name"]
        out[name.casefold()] = (a.get("type"), a.get("multiValued"), a.get("mutability"), a.get("returned"))
        out.update(flat(a.get("subAttributes") or [], name + "."))
    return out


@pytest.mark.parametrize("document", ["scim2-rfc7643-User.json", "scim2-rfc7643-Enterprise-User.json"])
def test_published_schema_matches_rfc_7643(document: str) -> None:
    rfc = json.loads((SPEC / document).read_text())
    published = {str(s.id): s.model_dump() for s in PROVIDER.schemas}[rfc["id"]]

    ours, theirs = flat(published["attributes"]), flat(rfc["attributes"])

    assert set(theirs) <= set(ours), f"not published: {sorted(set(theirs) - set(ours))}"
    # `addresses.primary` is in RFC 7643 section 4.1.2's text but not in its section 8.7.1 listing.
    assert set(ours) - set(theirs) <= {"addresses.primary"}
    assert {k: ours[k] for k in theirs} == theirs
