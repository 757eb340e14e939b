"""Platform text made safe to show: whoever can rename a volume writes what a model and a human read.

Every string the platform returns (names, devices, server ids, states, details) passes through here
before it reaches a tool result, a confirmation question or the audit trail: control characters, line
and paragraph separators, bidi overrides and zero-width characters are removed, and the length is capped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Final, NamedTuple

TEXT_LIMIT: Final = 64
"""Characters of one platform string in a sentence."""
FIELD_LIMIT: Final = 255
"""Characters of one platform string in structured content (the platform's own limit for names)."""
ELLIPSIS: Final = "…"

_BLANK: Final = frozenset("\u3164\u115f\u1160\uffa0\u2800")
"""Letters and symbols that show as nothing: the Hangul fillers and the blank Braille pattern. (Zero-width
characters, bidi marks, overrides and isolates, and tags are format characters: dropped by category.)"""
_SELECTORS: Final = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
"""Variation selectors: combining marks that show nothing and can each carry a hidden byte."""
MAX_COMBINING: Final = 2
"""Combining marks kept after one base character (more stack into unreadable "Zalgo" text)."""


_PLAIN: Final = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
"""Printable ASCII words separated by single spaces: already clean."""


class Cleaned(NamedTuple):
    text: str
    cut: bool
    """True when the text was longer than the limit and was shortened."""


def _visible(char: str) -> bool:
    if char in _BLANK or any(low <= ord(char) <= high for low, high in _SELECTORS):
        return False
    # C0/C1 controls (tabs, newlines), format characters, line/paragraph separators, lone surrogates (which
    # cannot even be encoded as UTF-8), private-use and unassigned code points.
    return unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _without_stacks(text: str) -> str:
    kept: list[str] = []
    marks = 0
    for char in text:
        marks = marks + 1 if unicodedata.combining(char) else 0
        if marks <= MAX_COMBINING:
            kept.append(char)
    return "".join(kept)


def clean(value: str, limit: int = FIELD_LIMIT) -> Cleaned:
    """The text without invisible or control characters, at most `limit` characters (an ellipsis marks a cut)."""
    if len(value) <= limit and _PLAIN.fullmatch(value):  # the usual case: nothing to remove, nothing to cut
        return Cleaned(value, False)
    # Look at a bounded prefix only: a 200 KB name costs no more than a short one.
    head = value[: limit * 4 + 16]
    kept = "".join(c if _visible(c) else " " if c in "\t\n\r\u2028\u2029" else "" for c in head)
    kept = " ".join(_without_stacks(kept).split())
    cut = len(kept) > limit or len(value) > len(head)
    return Cleaned(kept[: limit - 1] + ELLIPSIS if cut else kept, cut)


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
