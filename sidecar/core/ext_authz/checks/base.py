"""What every ext_authz check is: one async function behind one signature, reading a narrow context.

A check returns None when the request passes (having added identity headers to `passed`) or a Deny.
A verifier's answer is only a pass when it says valid with Reason.NONE (and carries what we need).
The context is what a check may read of the policy (header names, credential parsing, the denial
shapes), not the Policy itself; the verifiers are the three small ports below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sidecar.config.settings import ExtAuthzSettings
from sidecar.core.ext_authz.decisions import Deny, Passed
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.answers import ApprovalAnswer, ChallengeAnswer, SessionAnswer, TokenAnswer
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:  # policy.py imports the checks: the Rule type only, to keep the import one-way
    from sidecar.core.ext_authz.policy import Rule


class Tokens(Protocol):
    async def verify(self, token: str, audience: str | None, required_scopes: list[str]) -> TokenAnswer: ...


class Sessions(Protocol):
    async def verify_session(self, token: str, phone_e164: str) -> SessionAnswer: ...

    async def verify_approval(self, token: str, phone_e164: str) -> ApprovalAnswer: ...


class Challenges(Protocol):
    async def validate(self, token: str, user_id: str | None, action: str | None) -> ChallengeAnswer: ...


@dataclass(frozen=True, slots=True)
class Verifiers:
    """What the checks ask; None when that component is not built (its checks then deny)."""

    tokens: Tokens | None = None
    sessions: Sessions | None = None
    challenges: Challenges | None = None


class CheckContext(Protocol):
    """What a check reads of the policy in force (core/ext_authz/policy.py's Policy is one)."""

    settings: ExtAuthzSettings
    prefix: str

    def credential(self, request: HttpRequest, name: str) -> str | None: ...

    def bearer(self, request: HttpRequest) -> str | None: ...

    def phone(self, request: HttpRequest) -> str: ...

    def deny_for(self, rule: Rule, check: str, reason: Reason) -> Deny: ...

    def challenge_header(self, check: str, error: str | None) -> tuple[tuple[str, str], ...]: ...


Check = Callable[["CheckContext", "Rule", HttpRequest, Verifiers, Passed], Awaitable["Deny | None"]]


def negative(reason: Reason) -> Reason:
    # "invalid" without a reason is still invalid: never let a verifier bug read as a pass.
    return Reason.NOT_VERIFIED if reason is Reason.NONE else reason
