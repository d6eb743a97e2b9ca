"""Validation of the ext_authz section: its header names and each policy rule (name, path match,
methods, checks and their order)."""

from __future__ import annotations

import re

from .settings import EXT_AUTHZ_CHECKS, ExtAuthzRule, ExtAuthzSettings
from .spiffe import pattern_problem

MODES = ("enforce", "dry_run")
MAX_PEERS = 256
EXT_AUTHZ_TERMINAL = {"allow", "deny"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_HEADER = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 token, lower-case as Envoy sends them


def _validate_ext_authz(e: ExtAuthzSettings) -> list[str]:
    p: list[str] = []
    prefix = e.identity_header_prefix
    if not prefix or not _HEADER.fullmatch(prefix):
        p.append("ext_authz.identity_header_prefix: must be a lower-case header name prefix")
    for name in ("session_token_header", "phone_header", "approval_token_header", "challenge_token_header"):
        value = getattr(e, name)
        if not _HEADER.fullmatch(value):
            p.append(f"ext_authz.{name}: must be a lower-case header name")
        elif prefix and value.startswith(prefix):
            p.append(f"ext_authz.{name}: must not start with {prefix} (those headers are removed)")
    for i, ch in enumerate(e.claim_headers):
        where = f"ext_authz.claim_headers[{i}]"
        if not ch.claim:
            p.append(f"{where}.claim: is required")
        if not _HEADER.fullmatch(ch.header) or not ch.header.startswith(prefix):
            # the prefix is what keeps a client from forging the header when the claim is absent
            p.append(f"{where}.header: must be a lower-case header name starting with {prefix}")
    if e.default_mode not in MODES:
        p.append(f"ext_authz.default_mode: must be one of {list(MODES)}")
    seen: set[str] = set()  # rule names are unique across every rule set: they are the metric's `rule`
    for i, rule in enumerate(e.rules):
        p.extend(_validate_rule(rule, f"ext_authz.rules[{i}]", seen))
    sets: set[str] = set()
    for i, policy in enumerate(e.policies):
        where = f"ext_authz.policies[{i}]"
        if not _NAME.fullmatch(policy.name):
            p.append(f"{where}.name: must be 1-64 of [a-z0-9_-]")
        elif policy.name in sets:
            p.append(f"{where}.name: duplicate policy name {policy.name}")
        sets.add(policy.name)
        for j, rule in enumerate(policy.rules):
            p.extend(_validate_rule(rule, f"{where}.rules[{j}]", seen))
    return p


def _validate_rule(rule: ExtAuthzRule, where: str, seen: set[str]) -> list[str]:
    p: list[str] = []
    if not _NAME.fullmatch(rule.name) or rule.name == "default":
        p.append(f"{where}.name: must be 1-64 of [a-z0-9_-] and not 'default'")
    elif rule.name in seen:
        p.append(f"{where}.name: duplicate rule name {rule.name}")
    seen.add(rule.name)
    if rule.path_prefix and not rule.path_prefix.startswith("/"):
        p.append(f"{where}.path_prefix: must start with /")
    if rule.path_prefix and rule.path_regex:
        p.append(f"{where}.path_regex: set path_prefix or path_regex, not both")
    if rule.path_regex:
        try:
            re.compile(rule.path_regex)
        except re.error as exc:
            p.append(f"{where}.path_regex: not a valid regular expression ({exc})")
    for j, method in enumerate(rule.methods):
        if method.upper() not in HTTP_METHODS:
            p.append(f"{where}.methods[{j}]: is not an HTTP method")
    checks = set(rule.checks)
    if not rule.checks:
        p.append(f"{where}.checks: needs at least one of {sorted(EXT_AUTHZ_CHECKS | EXT_AUTHZ_TERMINAL)}")
    elif checks & EXT_AUTHZ_TERMINAL and len(rule.checks) > 1:
        p.append(f"{where}.checks: allow and deny stand alone")
    elif len(checks) != len(rule.checks):
        p.append(f"{where}.checks: lists a check twice")
    for j, check in enumerate(rule.checks):
        if check not in EXT_AUTHZ_CHECKS | EXT_AUTHZ_TERMINAL:
            p.append(f"{where}.checks[{j}]: is not one of {sorted(EXT_AUTHZ_CHECKS | EXT_AUTHZ_TERMINAL)}")
    if "jwt" not in checks and (rule.issuers or rule.audience or rule.required_scopes):
        p.append(f"{where}.checks: issuers, audience and required_scopes need the jwt check")
    for i, check in enumerate(rule.checks):
        if check in ("approval", "challenge") and not {"jwt", "session"} & set(rule.checks[:i]):
            # A one-time token proves a step-up, not who is calling: a credential check comes first.
            p.append(f"{where}.checks: {check} needs a jwt or session check before it")
    if rule.action and not checks & {"approval", "challenge"}:
        p.append(f"{where}.action: needs the approval or challenge check")
    if rule.mode and rule.mode not in MODES:
        p.append(f"{where}.mode: must be one of {list(MODES)} (or empty for ext_authz.default_mode)")
    if ("peer" in checks) != bool(rule.peers):
        p.append(f"{where}.peers: the peer check needs peers, and peers need the peer check")
    if len(rule.peers) > MAX_PEERS:
        p.append(f"{where}.peers: at most {MAX_PEERS}")
    for i, pattern in enumerate(rule.peers[:MAX_PEERS]):
        problem = pattern_problem(pattern)
        if problem:
            p.append(f"{where}.peers[{i}]: {problem}")
    return p
