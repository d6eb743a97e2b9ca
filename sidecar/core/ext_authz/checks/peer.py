"""The `peer` check: the downstream workload's SPIFFE id, as Envoy saw it under mTLS.

Envoy sets `source.principal` from the verified client certificate (URI SAN first), so the
principal is only as good as Envoy's TLS setup: terminate mTLS in Envoy with
`require_client_certificate: true` (docs/ext_authz.md). Without a principal, or with one that is
not a SPIFFE id or matches none of the rule's patterns, the request is refused with 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.config.spiffe import parse
from sidecar.core.ext_authz.checks.base import CheckContext, Verifiers
from sidecar.core.ext_authz.decisions import Deny, Passed
from sidecar.core.ext_authz.http_request import HttpRequest

if TYPE_CHECKING:
    from sidecar.core.ext_authz.policy import Rule

PEER_REQUIRED = "peer_required"
PEER_NOT_ALLOWED = "peer_not_allowed"


async def check_peer(
    policy: CheckContext, rule: Rule, request: HttpRequest, v: Verifiers, passed: Passed
) -> Deny | None:
    if not request.principal:
        return Deny(rule.name, 403, PEER_REQUIRED)
    peer = parse(request.principal)
    if peer is None or not any(pattern.matches(peer) for pattern in rule.peers):
        return Deny(rule.name, 403, PEER_NOT_ALLOWED)
    # A workload identity, not a user's: the app may log and authorise on it.
    passed.put(policy.prefix + "peer", request.principal)
    return None
