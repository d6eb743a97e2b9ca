"""The `jwt` check: a Bearer token verified against the configured issuers; its subject, issuer,
scopes and mapped claims become identity headers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers, negative
from sidecar.core.ext_authz.decisions import CHECK_UNAVAILABLE, MISSING_CREDENTIAL, Deny, Passed, sendable
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.shared.answers import AuthInfo
from sidecar.core.shared.outcomes import Reason

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule

IDENTITY_MEMO = 1024  # identities whose headers are kept (each holds its AuthInfo: ≤ ~2 kB)
IDENTITY_MEMO_CLAIMS = 1024  # claim sets longer than this (JSON characters) are not kept
_identities: dict[int, tuple[AuthInfo, object, tuple[tuple[str, str], ...]]] = {}


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
    passed.subject = passed.subject or auth.subject
    passed.extend(identity_headers(auth, policy))
    passed.consumed.append("authorization")
    return None


def identity_headers(auth: AuthInfo, policy: CheckContext) -> tuple[tuple[str, str], ...]:
    """The headers a verified identity passes to the app: subject, issuer, scopes, mapped claims —
    each only if sendable (Passed.put's rule), the first value for a name winning.

    Memoised by the AuthInfo object itself (its id, with the object kept in the entry and compared,
    so a reused id can't match) and the policy's settings: the verified-token cache answers a hot
    token with the same AuthInfo each time, and a reload brings new settings. Only small claim sets
    are kept (as that cache keeps them), IDENTITY_MEMO entries at most."""
    settings = policy.settings
    entry = _identities.get(id(auth))
    if entry is not None and entry[0] is auth and entry[1] is settings:
        return entry[2]
    prefix = policy.prefix
    passed = Passed()
    passed.put(prefix + "subject", auth.subject)
    passed.put(prefix + "issuer", auth.issuer)
    passed.put(prefix + "scopes", " ".join(auth.scopes))
    if settings.claim_headers:
        claims = auth.claims  # parsed from the claims' JSON on each read: once here
        for mapping in settings.claim_headers:
            if mapping.claim in claims:
                passed.put(mapping.header, claim_text(claims[mapping.claim]))
    headers = tuple(passed.headers.items())
    if len(auth.claims_json) <= IDENTITY_MEMO_CLAIMS:
        if len(_identities) >= IDENTITY_MEMO:
            _identities.clear()
        _identities[id(auth)] = (auth, settings, headers)
    return headers


def claim_text(value: Any) -> str:
    """A claim as a header value: strings as they are, lists space-separated, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
