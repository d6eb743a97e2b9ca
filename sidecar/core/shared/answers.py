"""What the core answers for each question; the gRPC edge maps these 1:1 onto response messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sidecar.core.shared.outcomes import ActionState, Reason, SessionStatus, Source, Verdict


@dataclass(frozen=True, slots=True)
class AuthInfo:
    """The identity in a verified token. Times are Unix seconds.

    The full claim set is kept as the payload's JSON text, not a dict: the verified-token cache holds
    100k of these, and text is a fraction of a dict's memory. `claims` parses it when asked.
    """

    subject: str
    issuer: str
    audiences: tuple[str, ...] = ()
    expires_at: float | None = None
    issued_at: float | None = None
    session_id: str = ""
    scopes: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    org_id: str = ""
    claims_json: str = "{}"
    key_id: str = ""
    token_id: str = ""

    @property
    def claims(self) -> dict[str, Any]:
        return json.loads(self.claims_json)


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    verdict: Verdict
    auth: AuthInfo | None = None


@dataclass(frozen=True, slots=True)
class SessionAnswer:
    verdict: Verdict
    status: SessionStatus = SessionStatus.UNSPECIFIED


@dataclass(frozen=True, slots=True)
class SessionStatusAnswer:
    status: SessionStatus
    source: Source
    phone: str = ""  # E.164
    expires_at: float | None = None
    reason: Reason = Reason.NONE
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RevocationAnswer:
    revoked: bool
    reason: Reason
    source: Source
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    verdict: Verdict
    action: str = ""
    session_token: str = ""
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class ChallengeAnswer:
    verdict: Verdict
    state: ActionState = ActionState.UNSPECIFIED
    user_id: str = ""
    action: str = ""
    idempotency_key: str = ""
    verification_method: str = ""


@dataclass(frozen=True, slots=True)
class UpstreamHealth:
    name: str
    healthy: bool
    detail: str = ""
