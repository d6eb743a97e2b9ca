"""The `session` check: an RAuth session token verified for the phone the request names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers, negative
from sidecar.core.ext_authz.decisions import CHECK_UNAVAILABLE, MISSING_CREDENTIAL, Deny, Passed
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule


async def check_session(
    policy: CheckContext, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
) -> Deny | None:
    if v.sessions is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    name = policy.settings.session_token_header
    token = policy.credential(request, name)
    if token is None or not request.header(policy.settings.phone_header):
        return Deny(rule.name, 401, MISSING_CREDENTIAL, policy.challenge_header("session", None))
    phone = policy.phone(request)
    answer = await v.sessions.verify_session(token, phone)
    if not answer.verdict.valid or answer.verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "session", negative(answer.verdict.reason))
    passed.put(policy.prefix + "phone", phone)
    passed.put(policy.prefix + "session-status", answer.status.value.lower())
    passed.consumed.append(name)
    return None
