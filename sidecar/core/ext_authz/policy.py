"""The ext_authz policy: which checks a proxied HTTP request must pass, and what the proxy does next.

Rules are tried in order and the first whose path and method match decides; no match is a deny.
A rule's checks all have to pass (e.g. `[jwt, approval]` for a sensitive route). The answers come
from the same verifiers the AuthService uses (so a bearer token costs one verified-token cache hit);
this module only turns answers into Allow (headers for the app) or Deny (status, headers, body).
Fail closed: a missing verifier, an upstream error or an unexpected answer is a deny.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sidecar.config.settings import ExtAuthzRule, ExtAuthzSettings, Limits
from sidecar.config.spiffe import PeerPattern, compile_pattern
from sidecar.core.ext_authz import dry_run
from sidecar.core.ext_authz.checks.base import Verifiers
from sidecar.core.ext_authz.checks.registry import CHECKS
from sidecar.core.ext_authz.decisions import (
    DEFAULT_RULE,
    DENIED_BY_RULE,
    NO_MATCHING_RULE,
    Allow,
    Decision,
    Deny,
    Passed,
)
from sidecar.core.ext_authz.http_request import (
    BadPath,
    HttpRequest,
    bearer_token,
    normalised_path,
    prefix_matches,
)
from sidecar.core.shared.outcomes import InvalidArgument, Reason, UpstreamError
from sidecar.core.shared.phones import to_e164

REALM = 'realm="authsidecar"'
POLICY_KEY = "authsidecar_policy"  # the route's context_extensions key naming a rule set
UNKNOWN_POLICY = "unknown_policy"
ROUTE_MEMO = 1024  # (method, path, rule set) → rule memoised per policy; ≤ ~0.5 MB with the bound below
ROUTE_MEMO_TARGET = 256  # longer paths (or methods) are decided without the memo
_MISSING, _BAD_PATH, _UNKNOWN_POLICY = object(), object(), object()


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    prefix: str
    regex: re.Pattern | None
    methods: frozenset[str]
    checks: tuple[str, ...]
    issuers: frozenset[str]
    audience: str
    scopes: tuple[str, ...]
    action: str
    peers: tuple[PeerPattern, ...] = ()
    mode: str = dry_run.ENFORCE

    @classmethod
    def compile(cls, r: ExtAuthzRule, case_sensitive: bool = True, default_mode: str = dry_run.ENFORCE) -> Rule:
        # Case-insensitive: the canonical path is lower case, so the prefix is too and the regex ignores case.
        prefix = r.path_prefix if case_sensitive else r.path_prefix.lower()
        flags = 0 if case_sensitive else re.IGNORECASE
        return cls(
            r.name,
            prefix,
            re.compile(r.path_regex, flags) if r.path_regex else None,
            frozenset(m.upper() for m in r.methods),
            tuple(r.checks),
            frozenset(r.issuers),
            r.audience,
            tuple(r.required_scopes),
            r.action,
            tuple(compile_pattern(p) for p in r.peers),
            r.mode or default_mode,
        )

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        if self.prefix and not prefix_matches(self.prefix, path):
            return False
        return self.regex is None or self.regex.fullmatch(path) is not None


class Policy:
    def __init__(self, settings: ExtAuthzSettings, limits: Limits, default_region: str = "") -> None:
        self.settings = settings
        self.limits = limits
        self.default_region = default_region
        self.case_sensitive = settings.case_sensitive_paths
        self.default_mode = settings.default_mode
        self.rules = self._rules(settings.rules)
        self.rule_sets = {p.name: self._rules(p.rules) for p in settings.policies}
        self.prefix = settings.identity_header_prefix
        self._rule_header = self.prefix + "rule"
        self._routes: dict[tuple[str, str, str | None], Rule | object | None] = {}

    def _rules(self, rules: list[ExtAuthzRule]) -> list[Rule]:
        return [Rule.compile(r, self.case_sensitive, self.default_mode) for r in rules]

    async def decide(self, request: HttpRequest, verifiers: Verifiers) -> Decision:
        context = request.context
        rule_set = context.get(POLICY_KEY) if context else None
        route = self._route(request.method, request.path, rule_set)
        if route is _BAD_PATH:
            return Deny(DEFAULT_RULE, 400, Reason.MALFORMED.label)  # enforced in any mode: no rule can judge it
        if route is _UNKNOWN_POLICY:
            # A route naming a rule set we don't have is a config mismatch: refuse, whatever the mode.
            return Deny(DEFAULT_RULE, 403, UNKNOWN_POLICY)
        if route is None:
            decision: Decision = Deny(DEFAULT_RULE, 403, NO_MATCHING_RULE)
            mode = self.default_mode
        else:
            rule: Rule = route  # type: ignore[assignment]  # neither sentinel: a rule
            mode = rule.mode
            if rule.checks == ("deny",):
                decision = Deny(rule.name, 403, DENIED_BY_RULE)
            else:
                # The rule's checks, here rather than in a method of their own: a hot Check awaits one
                # coroutine fewer.
                passed, denial = Passed(), None
                for check in rule.checks:
                    if check == "allow":
                        continue
                    # The one place where verifier failures become HTTP outcomes.
                    try:
                        denial = await CHECKS[check](self, rule, request, verifiers, passed)
                    except InvalidArgument:
                        denial = Deny(
                            rule.name, 401, Reason.MALFORMED.label, self.challenge_header(check, "invalid_request")
                        )
                    except UpstreamError:
                        denial = Deny(rule.name, 503, Reason.UPSTREAM_UNAVAILABLE.label)
                    if denial is not None:
                        break
                decision = denial if denial is not None else self._allow(rule, request, passed)
        return dry_run.shadow(decision, request, self.prefix) if mode == dry_run.DRY_RUN else decision

    def _route(self, method: str, target: str, rule_set: str | None) -> Rule | object | None:
        """The rule deciding (method, target) under the rule set named (None: the top-level rules), or
        _BAD_PATH / _UNKNOWN_POLICY. Memoised for short targets: a hot route is canonicalised and
        walked once per policy (a reload builds a new Policy, so the memo never outlives its rules).
        The memo holds answers of normalised_path and the rule walk, never a form of its own."""
        path = target
        if "?" in path or "#" in path:  # normalised_path drops them first: the memo need not see them
            path = path.split("?", 1)[0].split("#", 1)[0]
        key = (method, path, rule_set)
        route = self._routes.get(key, _MISSING)
        if route is not _MISSING:
            return route
        route = self._walk(method, path, rule_set)
        if len(path) <= ROUTE_MEMO_TARGET and len(method) <= ROUTE_MEMO_TARGET:
            if len(self._routes) >= ROUTE_MEMO:
                self._routes.clear()  # bounded; a flood of distinct paths only costs the memo its hits
            self._routes[key] = route
        return route

    def _walk(self, method: str, path: str, rule_set: str | None) -> Rule | object | None:
        try:
            canonical = normalised_path(path, self.case_sensitive)
        except BadPath:
            return _BAD_PATH  # before the rule set: an ambiguous path is refused whatever the route says
        rules = self.rules
        if rule_set is not None:
            named = self.rule_sets.get(rule_set)
            if named is None:
                return _UNKNOWN_POLICY
            rules = named
        return next((r for r in rules if r.matches(method, canonical)), None)

    def _allow(self, rule: Rule, request: HttpRequest, passed: Passed) -> Allow:
        passed.put(self._rule_header, rule.name)
        sent = passed.headers
        # Incoming identity headers are forged by definition: ours overwrite, the rest are removed —
        # compared as a backend may read them (x_auth_subject, X-Auth_Subject are x-auth-subject too).
        remove = [h for h in request.headers_with_prefix(self.prefix) if h not in sent]
        if self.settings.strip_credentials:
            remove.extend(h for h in passed.consumed if h in request.headers and h not in remove)
        return Allow(rule.name, tuple(sorted(passed.headers.items())), tuple(remove))

    def deny_for(self, rule: Rule, check: str, reason: Reason) -> Deny:
        """The denial for a verifier's negative answer."""
        if reason is Reason.UPSTREAM_UNAVAILABLE:
            return Deny(rule.name, 503, reason.label)
        if reason is Reason.INSUFFICIENT_SCOPE:
            scope = " ".join(rule.scopes)
            return Deny(
                rule.name,
                403,
                reason.label,
                (("www-authenticate", f'Bearer {REALM}, error="insufficient_scope", scope="{scope}"'),),
            )
        if check in ("approval", "challenge"):
            return Deny(rule.name, 403, reason.label)  # authenticated, but the step-up is not good
        return Deny(rule.name, 401, reason.label, self.challenge_header(check, "invalid_token"))

    @staticmethod
    def challenge_header(check: str, error: str | None) -> tuple[tuple[str, str], ...]:
        """WWW-Authenticate for a 401 (RFC 6750 §3: no error code when credentials were absent)."""
        scheme = "Bearer" if check == "jwt" else "Session"
        value = f"{scheme} {REALM}" + (f', error="{error}"' if error else "")
        return (("www-authenticate", value),)

    def phone(self, request: HttpRequest) -> str:
        return to_e164(
            request.header(self.settings.phone_header), self.default_region, field=self.settings.phone_header
        )

    def credential(self, request: HttpRequest, name: str) -> str | None:
        """A credential header's value if present and sane; raises InvalidArgument if oversized."""
        value = request.header(name)
        if not value:
            return None
        if len(value) > self.limits.max_token_bytes or not value.isascii() or not value.isprintable():
            raise InvalidArgument(name, "is not a usable credential")
        return value

    def bearer(self, request: HttpRequest) -> str | None:
        header = self.credential(request, "authorization")
        if header is None:
            return None
        # The usual spelling without the regex: credential() let through printable ASCII only, whose
        # one whitespace is ' ', so a rest without ' ' is exactly what bearer_token's [^\s]+ takes.
        rest = header[7:]
        if header[:7] == "Bearer " and rest and " " not in rest:
            return rest
        token = bearer_token(header)
        if token is None:
            raise InvalidArgument("authorization", "is not a Bearer token")
        return token
