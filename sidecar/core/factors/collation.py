"""The order of JavaScript's `a.localeCompare(b)` (ICU root collation), which authy-client sorts callback keys by.

ICU compares in levels: first the base characters (whitespace < punctuation < symbols < digits < letters,
case ignored), then accents, then case (lower before upper). So `apple < Zebra`, `e < E < é`, `a < a_ < a-b`.
ASCII follows ICU exactly (the table below is Node's own order); other characters are decomposed (NFD) so that
Latin accents sort as ICU sorts them, and anything else sorts after the Latin letters by code point.
"""

from __future__ import annotations

import unicodedata

# Node 20: "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbB…" (case ignored at this level).
ASCII_ORDER = "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
PRIMARY = {ch: i for i, ch in enumerate(ASCII_ORDER)}
OTHER = len(ASCII_ORDER)


def _ignorable(ch: str) -> bool:
    # Other control characters weigh nothing at any level ("\x00a" == "a").
    return unicodedata.category(ch) == "Cc" and ch not in PRIMARY


def sort_key(text: str) -> tuple:
    """A key such that sorted(keys, key=sort_key) is the order localeCompare gives."""
    primary: list[int] = []
    accents: list[tuple[int, ...]] = []
    case: list[int] = []
    for ch in unicodedata.normalize("NFD", text):
        if _ignorable(ch):
            continue
        if unicodedata.combining(ch) and primary:
            accents[-1] = accents[-1] + (ord(ch),)
            continue
        lower = ch.lower() if len(ch.lower()) == 1 else ch
        primary.append(PRIMARY.get(lower, OTHER + ord(lower)))
        accents.append(())
        case.append(0 if ch == lower else 1)
    return tuple(primary), tuple(accents), tuple(case), text
