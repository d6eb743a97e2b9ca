"""Dry-run rules: decided and logged as usual, but the request goes on to the app.

For rolling a policy out safely (OPA-Envoy's dry-run): the app sees what the answer would have been
in `<prefix>dry-run` (`allow` or `deny`) and, for a would-be denial, `<prefix>dry-run-reason`. A
would-be denial passes no identity — a check that failed proved nothing, and one that passed before
it proved only part of the rule — and incoming identity headers are removed as always.
"""

from __future__ import annotations

from sidecar.core.ext_authz.decisions import Allow, Deny
from sidecar.core.ext_authz.http_request import HttpRequest

ENFORCE, DRY_RUN = "enforce", "dry_run"


def shadow(decision: Allow | Deny, request: HttpRequest, prefix: str) -> Allow:
    """The Allow a dry-run rule answers instead of `decision`."""
    if isinstance(decision, Allow):
        headers = tuple(sorted((*decision.headers, (prefix + "dry-run", "allow"))))
        return decision._replace(headers=headers, dry_run="allow")
    headers = (
        (prefix + "dry-run", "deny"),
        (prefix + "dry-run-reason", decision.reason),
        (prefix + "rule", decision.rule),
    )
    sent = {name for name, _ in headers}
    remove = tuple(h for h in request.headers_with_prefix(prefix) if h not in sent)
    return Allow(decision.rule, headers, remove, dry_run="deny", would_reason=decision.reason)
