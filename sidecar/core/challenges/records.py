"""Typed records of the step-up challenge platform: what its adapter returns and the core reads.

Vendor-neutral names; the adapter (upstream/authsignal.py) fills them from the wire JSON.
Times are Unix seconds (None when the platform did not say).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sidecar.core.shared.outcomes import ActionState


@dataclass(frozen=True, slots=True)
class ValidationRecord:
    """The platform's answer to "validate this challenge token"."""

    is_valid: bool
    state: ActionState = ActionState.UNSPECIFIED
    user_id: str = ""
    action: str = ""
    idempotency_key: str = ""
    verification_method: str = ""
    error: str = ""  # the platform's explanation when is_valid is false
    already_used: bool = False  # the platform says the token was consumed before


@dataclass(frozen=True, slots=True)
class TrackInput:
    """What a service tells the platform about an action a user is attempting."""

    user_id: str
    action: str
    redirect_url: str = ""
    idempotency_key: str = ""
    email: str = ""
    phone_number: str = ""
    ip_address: str = ""
    user_agent: str = ""
    device_id: str = ""
    username: str = ""
    custom: dict[str, Any] = field(default_factory=dict)
    redirect_to_settings: bool = False


@dataclass(frozen=True, slots=True)
class TrackResult:
    state: ActionState
    idempotency_key: str = ""
    url: str = ""
    token: str = ""
    is_enrolled: bool = False
    enrolled_verification_methods: tuple[str, ...] = ()
    allowed_verification_methods: tuple[str, ...] = ()
    default_verification_method: str = ""
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionRecord:
    state: ActionState
    state_updated_at: float | None = None
    created_at: float | None = None
    verification_method: str = ""
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserRecord:
    is_enrolled: bool
    email: str = ""
    phone_number: str = ""
    username: str = ""
    display_name: str = ""
    enrolled_verification_methods: tuple[str, ...] = ()
    allowed_verification_methods: tuple[str, ...] = ()
    default_verification_method: str = ""


@dataclass(frozen=True, slots=True)
class EnrollInput:
    user_id: str
    verification_method: str
    phone_number: str = ""
    email: str = ""
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class EnrolledAuthenticator:
    user_authenticator_id: str
    verification_method: str = ""
    recovery_codes: tuple[str, ...] = ()


class ChallengeUpstream(Protocol):
    """The few async calls the core needs; each raises UpstreamError when it gets no usable answer."""

    async def validate(self, token: str, user_id: str | None, action: str | None) -> ValidationRecord: ...

    async def track(self, request: TrackInput) -> TrackResult: ...

    async def get_action(self, user_id: str, action: str, idempotency_key: str) -> ActionRecord: ...

    async def get_user(self, user_id: str) -> UserRecord: ...

    async def enroll_verified_authenticator(self, request: EnrollInput) -> EnrolledAuthenticator: ...

    async def probe(self) -> tuple[bool, str]: ...

    async def close(self) -> None: ...
