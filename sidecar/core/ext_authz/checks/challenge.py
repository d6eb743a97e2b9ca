"""The `challenge` check: a completed step-up challenge, of the same user as the credential check before it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers, negative
from sidecar.core.ext_authz.decisions import CHALLENGE_REQUIRED, CHECK_UNAVAILABLE, Deny, Passed
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule


async def check_challenge(
    policy: CheckContext, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
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
        return policy.deny_for(rule, "challenge", negative(answer.verdict.reason))
    if passed.subject and answer.user_id and answer.user_id != passed.subject:
        return policy.deny_for(rule, "challenge", Reason.SUBJECT_MISMATCH)
    if rule.action and answer.action and answer.action != rule.action:
        return policy.deny_for(rule, "challenge", Reason.ACTION_MISMATCH)
    # Identity headers come from the credential check only, never from a one-time token.
    passed.put(policy.prefix + "challenge-action", answer.action)
    passed.consumed.append(name)
    return None
