"""Phone numbers compared as the platform compares them: in E.164."""

from __future__ import annotations

import functools

import phonenumbers

from sidecar.core.shared.outcomes import InvalidArgument

MAX_PHONE_CHARS = 64


def to_e164(raw: str, default_region: str | None = None, *, field: str = "phone") -> str:
    """Normalise a phone written in any common format to E.164, or raise InvalidArgument.

    A number without a leading + (or international prefix such as 00) needs `default_region`.
    """
    if not raw or not raw.strip():
        raise InvalidArgument(field, "is required")
    if len(raw) > MAX_PHONE_CHARS:
        raise InvalidArgument(field, f"is longer than {MAX_PHONE_CHARS} characters")
    e164, problem = _normalise(raw, (default_region or "").upper() or None)
    if problem:
        raise InvalidArgument(field, problem)
    return e164


# Parsing is the costliest step of a cached VerifySession; callers repeat the same few phones, and
# bounded memoisation of both outcomes also caps what a flood of garbage phones costs.
@functools.lru_cache(maxsize=16_384)
def _normalise(raw: str, region: str | None) -> tuple[str, str]:
    """(E.164, "") or ("", what is wrong)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        why = str(exc).split(") ", 1)[-1]  # drop phonenumbers' "(n) " error-type prefix
        return "", f"is not a phone number ({why})"
    # Not is_possible_number(): the platform's own examples (+1234567890) are not real numbers,
    # and it compares normalised strings, so we only insist on a known country code and a sane length.
    if phonenumbers.region_code_for_country_code(number.country_code or 0) == "ZZ":  # 0 is ZZ too
        return "", "has an unknown country calling code"
    if not 4 <= len(str(number.national_number)) <= 15:
        return "", "has too few or too many digits"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""
