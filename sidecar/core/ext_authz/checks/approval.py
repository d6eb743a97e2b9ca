"""The `approval` check: a one-time approval for this phone (and the rule's action), consumed by the check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers, negative
from sidecar.core.ext_authz.decisions import APPROVAL_REQUIRED, CHECK_UNAVAILABLE, MISSING_CREDENTIAL, Deny, Passed
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule


async def check_approval(
    policy: CheckContext, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
) -> Deny | None:
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
        return policy.deny_for(rule, "approval", negative(answer.verdict.reason))
    if rule.action and answer.action != rule.action:
        # An approval is consumed by the check; one granted for another action must not open this route.
        return policy.deny_for(rule, "approval", Reason.ACTION_MISMATCH)
    # Identity headers come from the credential check only, never from a one-time token.
    passed.put(policy.prefix + "approved-action", answer.action)
    passed.consumed.append(name)
    return None
