"""Text checks shared by the token rules and the upstream answer guard."""

from __future__ import annotations


def is_utf8(text: str) -> bool:
    """Whether `text` can be written as UTF-8: JSON's \\ud800-style escapes give Python strings with lone
    surrogates, which no protobuf string field, header or log line can carry."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
