"""What the session platform tells the core, in the core's words (the adapter fills these in).

The wire shapes (field names, status strings) live in upstream/rauth.py and upstream/rauth_events.py;
these types are what decisions are made from.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Protocol

from sidecar.core.shared.hashing import TokenKey
from sidecar.core.shared.outcomes import Reason, SessionStatus


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session as the platform knows it. `phone` is as the platform wrote it (not yet E.164)."""

    status: SessionStatus
    phone: str = ""
    expires_at: float | None = None  # Unix seconds
    session_id: str = ""


def cached_form(record: SessionRecord) -> SessionRecord:
    """What the negative cache keeps of a record: only what answers need (not the session id, which only
    terminal records use), with phones shared between entries, and one record per status for those that
    carry nothing else (unknown tokens). Caches hold 100k of these."""
    if not record.phone and record.expires_at is None:
        return _BARE[record.status]
    return SessionRecord(record.status, _shared_phone(record.phone), record.expires_at)


_BARE = {status: SessionRecord(status) for status in SessionStatus}


def verified_fields(record: SessionRecord) -> tuple[str, float | None]:
    """A verified session as the positive cache keeps it: its phone (shared) and expiry, nothing else."""
    return _shared_phone(record.phone), record.expires_at


def verified_from(fields: tuple[str, float | None]) -> SessionRecord:
    return SessionRecord(SessionStatus.VERIFIED, *fields)


@functools.lru_cache(maxsize=4096)
def _shared(phone: str) -> str:
    return phone


def _shared_phone(phone: str) -> str:
    # A user's sessions repeat one phone, parsed afresh from each upstream answer; keep one copy of the
    # recent ones (bounded; a phone longer than any real one is not worth sharing).
    return _shared(phone) if len(phone) <= 64 else phone


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """The platform's verdict on an approval token; `reason` is set when not valid."""

    valid: bool
    reason: Reason = Reason.NONE
    action: str = ""
    session_token: str = ""
    phone: str = ""
    expires_at: float | None = None


class EventKind(enum.Enum):
    SESSION_VERIFIED = "session_verified"
    SESSION_REVOKED = "session_revoked"
    SESSION_EXPIRED = "session_expired"
    APPROVAL_USED = "approval_used"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A session or approval event from the platform's event stream (tokens already hashed)."""

    kind: EventKind
    token_hash: TokenKey = b""  # hashing.token_key of the session or approval token
    session_id: str = ""
    expires_at: float | None = None


class PlatformApi(Protocol):
    """The session platform as the core needs it; raises outcomes.UpstreamError when it can't answer."""

    async def session_status(self, session_token: str, phone_e164: str) -> SessionRecord: ...

    async def verify_approval(self, approval_token: str, phone_e164: str) -> ApprovalRecord: ...

    async def health(self) -> None: ...
