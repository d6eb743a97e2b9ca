"""What the Authy platform tells the second-factor core, in the core's words, and the interface it is asked through.

The wire shapes (paths, JSON bodies, field names) live in upstream/authy.py, which implements
`AuthyUpstream`; these types are what decisions are made from. The core never imports the adapter:
the two are joined where the sidecar is assembled (runtime/assembly.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from sidecar.core.shared.answers import UpstreamHealth


class ApprovalStatus(enum.Enum):
    """A push approval request's state (mirrors authsidecar.v1.ApprovalStatus)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    EXPIRED = "EXPIRED"

    @property
    def final(self) -> bool:
        return self in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED, ApprovalStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A phone as the platform wants it: numeric calling code + national number."""

    country_code: int
    national: str


@dataclass(frozen=True, slots=True)
class PhoneVerificationStarted:
    message: str = ""
    seconds_to_expire: int = 0
    is_cellphone: bool = False


@dataclass(frozen=True, slots=True)
class UserStatus:
    user_id: str
    registered: bool = False
    confirmed: bool = False
    country_code: str = ""
    phone_number: str = ""
    devices: tuple[str, ...] = ()
    has_hard_token: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalDraft:
    user_id: str
    message: str
    visible: dict[str, str] = field(default_factory=dict)
    hidden: dict[str, str] = field(default_factory=dict)
    ttl_seconds: int = 0
    factor_id: str = ""  # Twilio Verify: the push factor; empty: the user's verified one, looked up


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Ask the platform to send a user's TOTP code by SMS or voice call (users without the app)."""

    user_id: str
    via: str  # "sms" | "call"
    force: bool = False  # send even when the user has the app
    action: str = ""  # optional: binds the code to one action (the platform's `action`)
    action_message: str = ""  # optional: text shown with the code
    phone: PhoneNumber | None = None  # Twilio Verify: where the code goes (it sends to phones, not users)


@dataclass(frozen=True, slots=True)
class TokenSent:
    """The platform's answer: where it went (masked), and whether it was skipped because the user has the app."""

    message: str = ""
    cellphone: str = ""  # masked by the platform, e.g. "+1-XXX-XXX-XX85"
    device: str = ""  # the app's device when the user has one
    ignored: bool = False


# authy-client's activity enum (src/enums/activity-enum.js): the only types registerActivity sends.
ACTIVITY_TYPES = frozenset({"banned", "cookie_login", "password_reset", "unbanned"})


@dataclass(frozen=True, slots=True)
class Activity:
    """A user activity reported to the platform (registerActivity)."""

    user_id: str
    type: str  # one of ACTIVITY_TYPES
    data: dict[str, str] = field(default_factory=dict)
    ip: str = ""


@dataclass(frozen=True, slots=True)
class MonthlyStatistics:
    year: int
    month: str
    api_calls_count: int = 0
    auths_count: int = 0
    calls_count: int = 0
    sms_count: int = 0
    users_count: int = 0


@dataclass(frozen=True, slots=True)
class ApplicationStatistics:
    app_id: int
    total_users: int
    months: tuple[MonthlyStatistics, ...] = ()


@dataclass(frozen=True, slots=True)
class PhoneInformation:
    type: str
    provider: str
    ported: bool
    message: str = ""


class AuthyUpstream(Protocol):
    """What the core needs from the platform; upstream/authy.py speaks its wire format."""

    async def verify_token(self, user_id: str, code: str, force: bool, factor_id: str = "") -> bool: ...
    async def request_token(self, request: TokenRequest) -> TokenSent: ...
    async def create_approval(self, draft: ApprovalDraft) -> str: ...
    async def approval_status(self, approval_id: str) -> ApprovalStatus: ...
    async def start_phone_verification(
        self, phone: PhoneNumber, via: str, locale: str, code_length: int
    ) -> PhoneVerificationStarted: ...
    async def check_phone_verification(self, phone: PhoneNumber, code: str) -> bool: ...
    async def register_user(self, email: str, phone: PhoneNumber) -> str: ...
    async def delete_user(self, user_id: str) -> None: ...
    async def user_status(self, user_id: str) -> UserStatus: ...
    async def register_activity(self, activity: Activity) -> str: ...
    async def application_statistics(self) -> ApplicationStatistics: ...
    async def phone_information(self, phone: PhoneNumber, ip: str) -> PhoneInformation: ...
    async def health(self) -> UpstreamHealth: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A new TOTP factor: its id, and the binding the authenticator app needs — shown once, never stored."""

    factor_id: str
    binding_uri: str  # otpauth://totp/…
    secret: str


class TotpFactors(Protocol):
    """Enrolling TOTP factors (Twilio Verify: Entities/{identity}/Factors); the Authy API has no such call."""

    async def enrol_totp(self, user_id: str, friendly_name: str) -> TotpEnrolment: ...
    async def confirm_totp(self, user_id: str, factor_id: str, code: str) -> bool: ...
