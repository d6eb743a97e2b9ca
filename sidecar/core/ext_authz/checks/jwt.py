"""The `jwt` check: a Bearer token verified against the configured issuers; its subject, issuer,
scopes and mapped claims become identity headers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers, negative
from sidecar.core.ext_authz.decisions import CHECK_UNAVAILABLE, MISSING_CREDENTIAL, Deny, Passed, sendable
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule


async def check_jwt(
    policy: CheckContext, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
) -> Deny | None:
    if v.tokens is None:
        return Deny(rule.name, 503, CHECK_UNAVAILABLE)
    token = policy.bearer(request)
    if token is None:
        return Deny(rule.name, 401, MISSING_CREDENTIAL, policy.challenge_header("jwt", None))
    answer = await v.tokens.verify(token, rule.audience or None, list(rule.scopes))
    verdict, auth = answer.verdict, answer.auth
    if not verdict.valid or verdict.reason is not Reason.NONE:
        return policy.deny_for(rule, "jwt", negative(verdict.reason))
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


def claim_text(value: Any) -> str:
    """A claim as a header value: strings as they are, lists space-separated, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
