"""Platform text made safe to show: whoever can rename a volume writes what a model and a human read.

Every string the platform returns (names, devices, server ids, states, details) passes through here
before it reaches a tool result, a confirmation question or the audit trail: control characters, line
and paragraph separators, bidi overrides and zero-width characters are removed, and the length is capped.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Final, NamedTuple

TEXT_LIMIT: Final = 64
"""Characters of one platform string in a sentence."""
FIELD_LIMIT: Final = 255
"""Characters of one platform string in structured content (the platform's own limit for names)."""
ELLIPSIS: Final = "…"

_INVISIBLE: Final = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space, non-joiner, joiner, word joiner, BOM
    "\u200e\u200f\u061c"  # left-to-right, right-to-left and Arabic letter marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\u2028\u2029"  # line and paragraph separators
)


class Cleaned(NamedTuple):
    text: str
    cut: bool
    """True when the text was longer than the limit and was shortened."""


def _visible(char: str) -> bool:
    if char in _INVISIBLE:
        return False
    category = unicodedata.category(char)
    return category not in ("Cc", "Cf", "Zl", "Zp")  # C0/C1 controls (tabs, newlines), format chars, separators


def clean(value: str, limit: int = FIELD_LIMIT) -> Cleaned:
    """The text without invisible or control characters, at most `limit` characters (an ellipsis marks a cut)."""
    # Look at a bounded prefix only: a 200 KB name costs no more than a short one.
    head = value[: limit * 4 + 16]
    kept = "".join(c if _visible(c) else " " if c in "\t\n\r\u2028\u2029" else "" for c in head)
    kept = " ".join(kept.split())
    cut = len(kept) > limit or len(value) > len(head)
    if len(kept) > limit:
        kept = kept[: limit - 1] + ELLIPSIS
    elif cut:
        kept = kept[: max(0, limit - 1)] + ELLIPSIS
    return Cleaned(kept, cut)


def field(value: str | None) -> str | None:
    """A platform string for structured content (capped at the platform's 255)."""
    return None if value is None else clean(value).text


def short(value: str | None, empty: str = "-") -> str:
    """A platform string for a sentence: cleaned and capped at 64 characters."""
    if not value:
        return empty
    return clean(value, TEXT_LIMIT).text or empty


def quoted(value: str | None, empty: str = "-") -> str:
    """`short`, then quoted as a JSON string, so that it reads as data and cannot close its own quotes."""
    if not value:
        return empty
    return json.dumps(short(value), ensure_ascii=False)
