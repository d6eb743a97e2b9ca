"""Old dotted module path -> new dotted path, for the house layout (issue 25).

Read by restructure.py. Keys are modules as they are on main before the move; values are where they
live after it. A value outside `sidecar.` (harness., tools.) leaves the shipped package.
"""

MOVES: dict[str, str] = {
    # core/tokens: is this JWT valid
    "sidecar.core.tokens": "sidecar.core.tokens.verifier",
    "sidecar.core.keys": "sidecar.core.tokens.jwks_cache",
    "sidecar.core.jws": "sidecar.core.tokens.jws",
    "sidecar.core.claims": "sidecar.core.tokens.claims",
    # core/sessions: RAuth sessions, revocation, the lookup rate bound
    "sidecar.core.sessions": "sidecar.core.sessions.verifier",
    "sidecar.core.session_records": "sidecar.core.sessions.records",
    "sidecar.core.revocation": "sidecar.core.sessions.revocation",
    "sidecar.core.budget": "sidecar.core.sessions.lookup_rate",
    # core/onetime: at most one valid use, in this pod and the fleet
    "sidecar.core.ledger": "sidecar.core.onetime.ledger",
    # core/challenges: step-up challenges
    "sidecar.core.challenges": "sidecar.core.challenges.verifier",
    "sidecar.core.challenge_records": "sidecar.core.challenges.records",
    # core/factors: second factors (Authy)
    "sidecar.core.second_factors": "sidecar.core.factors.second_factors",
    "sidecar.core.second_factor_records": "sidecar.core.factors.records",
    "sidecar.core.callbacks": "sidecar.core.factors.callbacks",
    "sidecar.core.collation": "sidecar.core.factors.collation",
    # core/accounts: login, MFA, refresh, sessions of an identity service
    "sidecar.core.accounts": "sidecar.core.accounts.flows",
    "sidecar.core.account_records": "sidecar.core.accounts.records",
    # core/ext_authz: Envoy's question
    "sidecar.core.policy": "sidecar.core.ext_authz.policy",
    "sidecar.core.policy_checks": "sidecar.core.ext_authz.checks.registry",
    "sidecar.core.decisions": "sidecar.core.ext_authz.decisions",
    "sidecar.core.http_request": "sidecar.core.ext_authz.http_request",
    # core/shared: the kernel every domain uses
    "sidecar.core.outcomes": "sidecar.core.shared.outcomes",
    "sidecar.core.answers": "sidecar.core.shared.answers",
    "sidecar.core.caches": "sidecar.core.shared.caches",
    "sidecar.core.circuit": "sidecar.core.shared.circuit",
    "sidecar.core.hashing": "sidecar.core.shared.hashing",
    "sidecar.core.text": "sidecar.core.shared.text",
    "sidecar.core.phones": "sidecar.core.shared.phones",
    # memory arithmetic is configuration
    "sidecar.core.memory_budget": "sidecar.config.memory_budget",
    "sidecar.cgroup": "sidecar.config.cgroup",
    # runtime: the process
    "sidecar.server": "sidecar.runtime.server",
    "sidecar.app": "sidecar.runtime.assembly",
    "sidecar.reload": "sidecar.runtime.reload",
    "sidecar.ops_http": "sidecar.runtime.ops_http",
    "sidecar.httpserve": "sidecar.runtime.httpserve",
    "sidecar.demo": "sidecar.runtime.demo",
    # observability
    "sidecar.metrics": "sidecar.observability.metrics",
    "sidecar.logs": "sidecar.observability.logs",
    "sidecar.tracing": "sidecar.observability.tracing",
    "sidecar.decision_log": "sidecar.observability.decision_log",
    # client
    "sidecar.client": "sidecar.client.client",
    "sidecar.client_mux": "sidecar.client.mux",
    "sidecar.client_cli": "sidecar.client.cli",
    # out of the shipped package
    "sidecar.testing": "harness.processes",
    "sidecar.protogen": "tools.protogen",
    # upstream adapters, named after the platform they speak
    "sidecar.upstream.platform": "sidecar.upstream.rauth",
    "sidecar.upstream.events": "sidecar.upstream.rauth_events",
    "sidecar.upstream.challenges": "sidecar.upstream.authsignal",
    "sidecar.upstream.jwks": "sidecar.upstream.jwks_fetch",
    "sidecar.upstream.ledger_redis": "sidecar.upstream.redis_ledger",
    "sidecar.upstream.http": "sidecar.upstream.transport",
    # emulator areas, named after the platform they emulate
    "sidecar.emulator.platform": "sidecar.emulator.rauth",
    "sidecar.emulator.challenges": "sidecar.emulator.authsignal",
    "sidecar.emulator.identity": "sidecar.emulator.identity_service",
    "sidecar.emulator.jwks": "sidecar.emulator.issuers",
    "sidecar.emulator.app": "sidecar.emulator.asgi",
    # api
    "sidecar.api.validation": "sidecar.api.fields",
}

# Docstrings of the packages the move creates (an __init__.py is a package's door sign, not a shim).
PACKAGES: dict[str, str] = {
    "sidecar.core.tokens": "Tokens: is this JWT valid, for which issuer, signed by which of its keys (the JWKS cache).",
    "sidecar.core.sessions": "Sessions: RAuth reverse-authentication sessions, their revocation, and the rate bound on lookups of unknown tokens.",
    "sidecar.core.onetime": "One-time use: of every verification of one approval, challenge or code, at most one is valid, in this pod and in the fleet.",
    "sidecar.core.challenges": "Step-up challenges: did the user complete this challenge, for this user and action, once.",
    "sidecar.core.factors": "Second factors (Authy): TOTP and phone codes, push approvals, callback signatures.",
    "sidecar.core.accounts": "Accounts: login, MFA, refresh, logout and session management against an identity service.",
    "sidecar.core.ext_authz": "ext_authz: may this proxied HTTP request reach the app (Envoy's question), rule by rule, check by check.",
    "sidecar.core.ext_authz.checks": "The ext_authz checks, one per credential kind, and the registry that names them.",
    "sidecar.core.shared": "The kernel every domain uses: outcomes and answers, caches, circuit breaker, hashing, text, phones.",
    "sidecar.runtime": "The process: gRPC server, assembly of components from settings, live reload, ops port, demo.",
    "sidecar.observability": "What the sidecar tells its operators: metrics, logs, traces, the decision log.",
    "sidecar.client": "Python clients of the sidecar: typed calls, the stream multiplexer, `sidecar call`.",
    "harness": "Real processes on loopback for tests, benchmarks and soak runs (not shipped with the sidecar).",
    "tools": "Development tooling run from the checkout (not shipped with the sidecar).",
}

# Names that leave their module (old or new module path, name) -> new module. Applied to
# `from M import name` lines and to dotted `M.name` references, after the module moves.
SYMBOL_MOVES: dict[tuple[str, str], str] = {
    ("sidecar.core.shared.caches", "OneTimeLedger"): "sidecar.core.onetime.consumed",
}

# Names renamed so each word has one meaning: old identifier -> (module defining it, new identifier).
# Applied as whole words everywhere once the module defines the new name (i.e. after the commit that
# renamed it is merged), so a branch written against the old name follows.
NAME_RENAMES: dict[str, tuple[str, str]] = {
    "ChallengePlatform": ("sidecar.upstream.authsignal", "AuthsignalClient"),
    "PlatformClient": ("sidecar.upstream.rauth", "RauthClient"),
    "LookupBudget": ("sidecar.core.sessions.lookup_rate", "LookupRate"),
}
