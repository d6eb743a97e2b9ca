"""The vocabulary of answers: why something is not valid, and where an answer came from.

Core code returns these; the gRPC edge maps them 1:1 onto the proto enums of the same names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.Enum):
    """Why an answer is not valid (mirrors authsidecar.v1.Reason; NONE is REASON_UNSPECIFIED)."""

    NONE = "UNSPECIFIED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    NOT_VERIFIED = "NOT_VERIFIED"
    SUBJECT_MISMATCH = "SUBJECT_MISMATCH"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    UNTRUSTED_ISSUER = "UNTRUSTED_ISSUER"
    BAD_AUDIENCE = "BAD_AUDIENCE"
    MALFORMED = "MALFORMED"
    ALREADY_USED = "ALREADY_USED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    NOT_FOUND = "NOT_FOUND"
    PHONE_MISMATCH = "PHONE_MISMATCH"
    INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
    NOT_YET_VALID = "NOT_YET_VALID"
    BAD_ALGORITHM = "BAD_ALGORITHM"
    MISSING_CLAIM = "MISSING_CLAIM"
    ACTION_MISMATCH = "ACTION_MISMATCH"
    CHALLENGE_FAILED = "CHALLENGE_FAILED"
    LIFETIME_TOO_LONG = "LIFETIME_TOO_LONG"
    UNSUPPORTED_HEADER = "UNSUPPORTED_HEADER"
    BLOCKED = "BLOCKED"

    @property
    def label(self) -> str:
        """Lower-case name for metric labels and logs (a bounded set)."""
        return "none" if self is Reason.NONE else self.value.lower()


class Source(enum.Enum):
    """Where an answer came from (mirrors authsidecar.v1.Source)."""

    NONE = "UNSPECIFIED"
    CACHE = "CACHE"
    UPSTREAM = "UPSTREAM"
    STREAM = "STREAM"
    LOCAL = "LOCAL"


class SessionStatus(enum.Enum):
    """A reverse-authentication session's state (mirrors authsidecar.v1.SessionStatus)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN = "UNKNOWN"


class ActionState(enum.Enum):
    """A tracked action's state (mirrors authsidecar.v1.ActionState)."""

    UNSPECIFIED = "UNSPECIFIED"
    CHALLENGE_REQUIRED = "CHALLENGE_REQUIRED"
    CHALLENGE_SUCCEEDED = "CHALLENGE_SUCCEEDED"
    CHALLENGE_FAILED = "CHALLENGE_FAILED"
    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    REVIEW = "REVIEW"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A yes/no answer with its reason; `valid` is True only with Reason.NONE."""

    valid: bool
    reason: Reason = Reason.NONE
    detail: str = ""
    source: Source = Source.NONE

    @classmethod
    def ok(cls, source: Source, detail: str = "") -> Verdict:
        if not detail:
            return _OK[source]  # verdicts are immutable: the hot paths share one per source
        return cls(True, Reason.NONE, detail, source)

    @classmethod
    def deny(cls, reason: Reason, detail: str = "", source: Source = Source.LOCAL) -> Verdict:
        assert reason is not Reason.NONE, "a denial needs a reason"
        return cls(False, reason, detail, source)


_OK = {s: Verdict(True, Reason.NONE, "", s) for s in Source}


class InvalidArgument(ValueError):
    """A request field is missing, oversized or malformed; maps to gRPC INVALID_ARGUMENT."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class RevocationsUnknown(Exception):
    """Whether a token was revoked can't be told now (e.g. the fleet's revocation log is stale): no
    token may be answered valid until it can."""


class UpstreamError(Exception):
    """An upstream call failed; `status` is the HTTP status (0 when none was received)."""

    def __init__(self, upstream: str, status: int, message: str, body: str = "") -> None:
        super().__init__(f"{upstream} {status}: {message}" if status else f"{upstream}: {message}")
        self.upstream = upstream
        self.status = status
        self.message = message
        self.body = body

    @property
    def unavailable(self) -> bool:
        """No answer, a 5xx or a 429: the upstream could not decide (fail closed, retryable)."""
        return self.status == 0 or self.status >= 500 or self.status == 429


class NotConfigured(Exception):
    """The RPC needs a platform this sidecar has no settings for; maps to gRPC FAILED_PRECONDITION."""


class UpstreamLimited(UpstreamError):
    """The platform refused because a limit was reached (too many requests, check or send attempts): an
    answer about this caller, not an outage — verifications are not valid with Reason.BLOCKED, pass-through
    calls end RESOURCE_EXHAUSTED, and it never counts against the circuit. `retry_after`: seconds, 0 unknown."""

    def __init__(self, upstream: str, status: int, message: str, body: str = "", retry_after: float = 0.0) -> None:
        super().__init__(upstream, status, message, body)
        self.retry_after = retry_after

    @property
    def unavailable(self) -> bool:
        return False


class UpstreamAuthFailed(UpstreamError):
    """The platform refused the sidecar's own credentials (Twilio 20003/401): nothing the caller can fix, so
    an outage of that upstream for it (status 502: unavailable, fail closed, counted by the circuit) — but
    said as what it is, so an operator reading a verdict sees "authentication failed", not an outage."""


class Unsupported(Exception):
    """The configured platform has no such call (the other identity flavour serves it); maps to gRPC
    UNIMPLEMENTED with the reason."""
