"""Caps on what one study may store, and the characters a name may hold: one truth for the
spec validator (at the door) and the store (the last check before a row is written).

>>> invisible_chars("paper\u202egnp.exe")
['U+202E']
"""
from __future__ import annotations

import unicodedata

MAX_SPEC_BYTES = 256 * 1024   # a spec's text, and its JSON once parsed (aliases expanded)
MAX_NAME = 200                # a study's name (characters)
MAX_OWNER = 100
MAX_LABEL = 200               # trainable, searcher, scheduler, metric names

# Control, format (bidi overrides, zero-width joiners/spaces, BOM), surrogate, private-use,
# unassigned, and line/paragraph separators: invisible or reordering, so two names that look
# alike could differ (look-alike names) or a name could hide what follows it.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def invisible_chars(text: str) -> list[str]:
    """The code points of ``text`` that a name must not hold (``U+XXXX``, sorted)."""
    return sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in _INVISIBLE})


def name_problem(name: object, limit: int = MAX_NAME) -> str | None:
    """Why ``name`` is not a valid display name, or None."""
    if not isinstance(name, str) or not name.strip():
        return f"must be 1-{limit} visible characters"
    if len(name) > limit:
        return f"must be at most {limit} characters, got {len(name)}"
    bad = invisible_chars(name)
    if bad:
        return ("must not hold control, bidirectional or zero-width characters, got "
                + ", ".join(bad[:5]))
    return None
