"""How identifiers (emails, usernames) are lowered and compared, so that two a person reads as different never
become one.

`str.lower()` maps some characters from outside ASCII onto it (the Kelvin sign U+212A becomes `k`), which would
turn `<U+212A>ate.k@...` into someone else's address. `lowered` keeps such a character as written; `fold` is the
comparison key (NFKC, case-folded) under which lookalikes collide, so that matching can find and refuse them.
"""

from __future__ import annotations

import unicodedata


def lowered(value: str) -> str:
    """`value` trimmed, with letter case lowered except where a character from outside ASCII would lower into it
    (U+212A, the Kelvin sign): those are kept. No normalisation either: the Kelvin sign's canonical form is already `K`,
    so even NFC would make it someone else's `k`."""
    value = value.strip()
    if value.isascii():  # the common case: nothing can lower into a lookalike, and str.lower is one C call
        return value.lower()
    return "".join(c.lower() if c.isascii() or not c.lower().isascii() else c for c in value)


def fold(value: str) -> str:
    """The comparison key of an identifier: trimmed, NFKC-normalised, case-folded (lookalikes collide)."""
    return unicodedata.normalize("NFKC", value.strip()).casefold()
