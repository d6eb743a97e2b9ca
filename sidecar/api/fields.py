"""Request field checks at the edge: every failure is an InvalidArgument naming the field."""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.core.shared.outcomes import InvalidArgument


def required(field: str, value: str, max_chars: int) -> str:
    """A non-empty string of at most max_chars characters, without control characters."""
    if not value:
        raise InvalidArgument(field, "is required")
    return optional(field, value, max_chars)


def optional(field: str, value: str, max_chars: int) -> str:
    if len(value) > max_chars:
        raise InvalidArgument(field, f"is longer than {max_chars} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument(field, "contains control characters")
    return value


def token(field: str, value: str, max_bytes: int) -> str:
    """A compact token: required, at most max_bytes UTF-8 bytes, printable ASCII only."""
    return printable(field, ascii_token(field, value, max_bytes))


def ascii_token(field: str, value: str, max_bytes: int) -> str:
    """`token`'s checks that cost the same whatever the length (required, size, ASCII): all but the
    printable scan, which `printable` adds (a caller may run it only for a token not already known)."""
    if not value:
        raise InvalidArgument(field, "is required")
    # An ASCII string has as many bytes as characters: only other text is encoded to be measured.
    if len(value) > max_bytes or (not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > max_bytes):
        raise InvalidArgument(field, f"is larger than {max_bytes} bytes")
    if not value.isascii():
        raise InvalidArgument(field, "must be printable ASCII")
    return value


def printable(field: str, value: str) -> str:
    """No control characters (for ASCII text: the rest of `token`'s check, one pass over the text)."""
    if not value.isprintable():
        raise InvalidArgument(field, "must be printable ASCII")
    return value


def url(field: str, value: str, max_chars: int) -> str:
    """An optional absolute http(s) URL (where the platform sends the user back)."""
    optional(field, value, max_chars)
    if value and not value.startswith(("https://", "http://")):
        raise InvalidArgument(field, "must be an absolute http(s) URL")
    return value


def string_list(field: str, values: Sequence[str], max_items: int, max_chars: int) -> list[str]:
    if len(values) > max_items:
        raise InvalidArgument(field, f"has more than {max_items} items")
    return [required(f"{field}[{i}]", v, max_chars) for i, v in enumerate(values)]
