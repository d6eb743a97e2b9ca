"""What an ext_authz check decides: Allow (headers for the app) or Deny (status, headers, body)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import NamedTuple

DEFAULT_RULE = "default"  # the label of "no rule matched" (a reserved rule name)
MAX_HEADER_VALUE_CHARS = 4096


# Allow and Deny are named tuples, not frozen dataclasses: one is built per Check, and a frozen
# dataclass sets each field through object.__setattr__; hashing and comparing (the encoded-answer
# memo in api/ext_authz.py) are then the tuple's own, in C. Their field counts differ (5 and 4), so
# an Allow never equals a Deny.
class Allow(NamedTuple):
    rule: str
    headers: tuple[tuple[str, str], ...] = ()  # set on the request to the app (overwriting)
    remove: tuple[str, ...] = ()  # removed from the request to the app
    dry_run: str = ""  # a dry-run rule's would-be answer: "allow" | "deny"; "" enforced
    would_reason: str = ""  # the would-be denial's reason (dry run)

    @property
    def reason(self) -> str:
        return "none"

    @property
    def status(self) -> int:
        return 200


class Deny(NamedTuple):
    rule: str
    status: int  # HTTP status for the client: 400, 401, 403, 503
    reason: str  # bounded code: a Reason label or one of ours below
    headers: tuple[tuple[str, str], ...] = ()  # response headers (WWW-Authenticate)

    @property
    def body(self) -> str:
        """A small JSON body: the reason code only (never why a signature failed)."""
        error = {400: "bad_request", 401: "unauthorized", 403: "forbidden"}.get(self.status, "unavailable")
        return json.dumps({"error": error, "reason": self.reason}, separators=(",", ":"))


Decision = Allow | Deny

# Our own reason codes, next to the Reason labels.
MISSING_CREDENTIAL = "missing_credential"
APPROVAL_REQUIRED = "approval_required"
CHALLENGE_REQUIRED = "challenge_required"
NO_MATCHING_RULE = "no_matching_rule"
DENIED_BY_RULE = "denied_by_rule"
CHECK_UNAVAILABLE = "check_unavailable"


@dataclass
class Passed:
    """What the checks of one rule have established so far."""

    headers: dict[str, str] = field(default_factory=dict)
    consumed: list[str] = field(default_factory=list)  # credential headers the checks read
    subject: str = ""

    def put(self, name: str, value: str) -> None:
        # Header injection: a claim with CR/LF or other control characters is left out, not sent.
        if value and sendable(value):
            self.headers.setdefault(name, value)

    def extend(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Headers already checked by `put`'s rule (non-empty, sendable, names distinct): the first
        value for a name still wins."""
        if self.headers:
            for name, value in headers:
                self.headers.setdefault(name, value)
        else:
            self.headers.update(headers)


def sendable(value: str) -> bool:
    """Can this be an HTTP header value as it is? No control characters (CR, LF, NUL, …), no lone
    surrogates, no other non-printable characters, at most MAX_HEADER_VALUE_CHARS."""
    return len(value) <= MAX_HEADER_VALUE_CHARS and value.isprintable()
