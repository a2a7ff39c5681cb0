"""Identifiers are lowered without turning a lookalike into ASCII, and compared under NFKC and case-folding."""

from __future__ import annotations

import pytest

from enrolsync.sync.rules.identifiers import fold, lowered


@pytest.mark.parametrize(
    ("written", "as_lowered"),
    [
        ("  Kate.K@ACME.example ", "kate.k@acme.example"),
        ("\u212aate.k@acme.example", "\u212aate.k@acme.example"),  # the Kelvin sign stays itself
        ("\u0130nci@acme.example", "i\u0307nci@acme.example"),  # dotted capital I: i + a combining dot, not ASCII
        ("REN\u00c9@acme.example", "ren\u00e9@acme.example"),  # letters outside ASCII still lower within their script
        ("Stra\u00dfe@acme.example", "stra\u00dfe@acme.example"),
    ],
)
def test_lowering_never_maps_a_character_into_ascii(written: str, as_lowered: str) -> None:
    assert lowered(written) == as_lowered


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("\u212aate.k@acme.example", "kate.k@acme.example"),
        ("\uff4bate.k@acme.example", "KATE.K@acme.example"),  # full-width
        ("stra\u00dfe@acme.example", "strasse@acme.example"),
    ],
)
def test_lookalikes_fold_to_one_key_so_matching_can_see_them(left: str, right: str) -> None:
    assert fold(left) == fold(right)
    assert lowered(left) != lowered(right)  # ... and are told apart as written
