"""The four ext_authz checks: read the credential headers, ask a verifier, judge its answer.

Each returns None when the request passes (having added identity headers to `passed`) or a Deny.
A verifier's answer is only a pass when it says valid with Reason.NONE (and carries what we need).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sidecar.core.ext_authz.checks.peer import check_peer
from sidecar.core.ext_authz.decisions import (
    APPROVAL_REQUIRED,
    CHALLENGE_REQUIRED,
    CHECK_UNAVAILABLE,
    MISSING_CREDENTIAL,
    Deny,
    Passed,
    sendable,
)
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:  # policy.py imports this module: the types only, to keep the import one-way
    from sidecar.core.ext_authz.policy import Policy, Rule, Verifiers


async def check_jwt(policy: Policy, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed) -> Deny | None:
    if v.tokens is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    token = policy.bearer(request)
    if token is None:
        return Deny(rule.name, 401, MISSING_CREDENTIAL, policy.challenge_header("jwt", None))
    answer = await v.tokens.verify(token, rule.audience or None, list(rule.scopes))
    verdict, auth = answer.verdict, answer.auth
    if not verdict.valid or verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "jwt", _reason(verdict.reason))
    if auth is None or not auth.subject:
        return policy.deny_for(rule, "jwt", Reason.MISSING_CLAIM)
    if not sendable(auth.subject):
        # The app must learn who this is; a subject no header can carry is not an identity we pass on.
        return policy.deny_for(rule, "jwt", Reason.MALFORMED)
    if rule.issuers and auth.issuer not in rule.issuers:
        return policy.deny_for(rule, "jwt", Reason.UNTRUSTED_ISSUER)
    prefix = policy.prefix
    passed.subject = passed.subject or auth.subject
    passed.put(prefix + "subject", auth.subject)
    passed.put(prefix + "issuer", auth.issuer)
    passed.put(prefix + "scopes", " ".join(auth.scopes))
    for mapping in policy.settings.claim_headers:
        if mapping.claim in auth.claims:
            passed.put(mapping.header, claim_text(auth.claims[mapping.claim]))
    passed.consumed.append("authorization")
    return None


async def check_session(policy: Policy, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed) -> Deny | None:
    if v.sessions is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    name = policy.settings.session_token_header
    token = policy.credential(request, name)
    if token is None or not request.header(policy.settings.phone_header):
        return Deny(rule.name, 401, MISSING_CREDENTIAL, policy.challenge_header("session", None))
    phone = policy.phone(request)
    answer = await v.sessions.verify_session(token, phone)
    if not answer.verdict.valid or answer.verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "session", _reason(answer.verdict.reason))
    passed.put(policy.prefix + "phone", phone)
    passed.put(policy.prefix + "session-status", answer.status.value.lower())
    passed.consumed.append(name)
    return None


async def check_approval(policy: Policy, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed) -> Deny | None:
    if v.sessions is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    name = policy.settings.approval_token_header
    token = policy.credential(request, name)
    if token is None:
        return Deny(rule.name, 403, APPROVAL_REQUIRED)
    if not request.header(policy.settings.phone_header):
        return Deny(rule.name, 401, MISSING_CREDENTIAL, policy.challenge_header("approval", None))
    phone = policy.phone(request)
    answer = await v.sessions.verify_approval(token, phone)
    if not answer.verdict.valid or answer.verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "approval", _reason(answer.verdict.reason))
    if rule.action and answer.action != rule.action:
        # An approval is consumed by the check; one granted for another action must not open this route.
        return policy.deny_for(rule, "approval", Reason.ACTION_MISMATCH)
    # Identity headers come from the credential check only, never from a one-time token.
    passed.put(policy.prefix + "approved-action", answer.action)
    passed.consumed.append(name)
    return None


async def check_challenge(
    policy: Policy, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
) -> Deny | None:
    if v.challenges is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    name = policy.settings.challenge_token_header
    token = policy.credential(request, name)
    if token is None:
        return Deny(rule.name, 403, CHALLENGE_REQUIRED)
    # After a jwt check the step-up must belong to the same user as the bearer token.
    answer = await v.challenges.validate(token, passed.subject or None, rule.action or None)
    if not answer.verdict.valid or answer.verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "challenge", _reason(answer.verdict.reason))
    if passed.subject and answer.user_id and answer.user_id != passed.subject:
        return policy.deny_for(rule, "challenge", Reason.SUBJECT_MISMATCH)
    if rule.action and answer.action and answer.action != rule.action:
        return policy.deny_for(rule, "challenge", Reason.ACTION_MISMATCH)
    # Identity headers come from the credential check only, never from a one-time token.
    passed.put(policy.prefix + "challenge-action", answer.action)
    passed.consumed.append(name)
    return None


def _reason(reason: Reason) -> Reason:
    # "invalid" without a reason is still invalid: never let a verifier bug read as a pass.
    return Reason.NOT_VERIFIED if reason is Reason.NONE else reason


Check = Callable[["Policy", "Rule", HttpRequest, "Verifiers", Passed], Awaitable["Deny | None"]]
CHECKS: dict[str, Check] = {
    "jwt": check_jwt,
    "session": check_session,
    "approval": check_approval,
    "challenge": check_challenge,
    "peer": check_peer,
}


def claim_text(value: Any) -> str:
    """A claim as a header value: strings as they are, lists space-separated, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
