"""The hot Check's shortcuts decide exactly as the long way: the route memo (canonical path + rule walk),
the identity-header memo of the jwt check, Policy.bearer's regex-free reading, the decision-id batch."""

from __future__ import annotations

import asyncio
import json
import os
import re

import pytest

from sidecar.config import ClaimHeader, ExtAuthzPolicySet, ExtAuthzRule, ExtAuthzSettings, Limits
from sidecar.core.ext_authz import decision_ids
from sidecar.core.ext_authz import policy as policy_module
from sidecar.core.ext_authz.checks import jwt as jwt_check
from sidecar.core.ext_authz.decisions import Allow, Deny
from sidecar.core.ext_authz.http_request import BadPath, HttpRequest, bearer_token, normalised_path
from sidecar.core.ext_authz.policy import POLICY_KEY, Policy, Verifiers
from sidecar.core.shared.answers import AuthInfo, TokenAnswer
from sidecar.core.shared.outcomes import InvalidArgument, Source, Verdict

RULES = [
    ExtAuthzRule(name="health", path_prefix="/healthz", methods=["GET"], checks=["allow"]),
    ExtAuthzRule(name="admin", path_prefix="/admin", checks=["deny"]),
    ExtAuthzRule(name="item", path_regex=r"/api/items/[0-9]+", checks=["allow"]),
    ExtAuthzRule(name="api", path_prefix="/api", checks=["jwt"]),
]
PATHS = [
    "/healthz",
    "/healthz/",
    "/HEALTHZ",
    "//healthz",
    "/healthz?x=1",
    "/healthz#frag",
    "/admin",
    "/admin/../healthz",
    "/public/%2e%2e/admin",
    "/api/items/12",
    "/api/items/12?x=/admin",
    "/api/items/%31%32",
    "/api/items/12;x",
    "/api/items/12/",
    "/api%2Fitems",
    "/api/x%zz",
    "api",
    "/api/ü",
    "/ap",
    "/",
    "",
]


def settings(**changes) -> ExtAuthzSettings:
    s = ExtAuthzSettings(rules=RULES, policies=[ExtAuthzPolicySet(name="open", rules=[RULES[0]])])
    for key, value in changes.items():
        setattr(s, key, value)
    return s


def unmemoised(p: Policy, method: str, target: str, rule_set: str | None):
    """What the route memo must answer: normalised_path, then the rule set, then the first rule."""
    try:
        path = normalised_path(target, p.case_sensitive)
    except BadPath:
        return "bad"
    rules = p.rules if rule_set is None else p.rule_sets.get(rule_set)
    if rules is None:
        return "unknown"
    return next((r.name for r in rules if r.matches(method, path)), None)


def memoised(p: Policy, method: str, target: str, rule_set: str | None):
    route = p._route(method, target, rule_set)
    if route is policy_module._BAD_PATH:
        return "bad"
    if route is policy_module._UNKNOWN_POLICY:
        return "unknown"
    return None if route is None else route.name


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_the_route_memo_answers_as_the_canonical_path_and_rule_walk_do(case_sensitive):
    p = Policy(settings(case_sensitive_paths=case_sensitive), Limits())
    for _ in range(2):  # the first pass fills the memo, the second reads it
        for method in ("GET", "get", "POST"):
            for target in PATHS:
                for rule_set in (None, "open", "nope"):
                    expected = unmemoised(p, method, target, rule_set)
                    assert memoised(p, method, target, rule_set) == expected, (method, target, rule_set)


async def test_a_bad_path_is_refused_before_the_rule_set_memoised_or_not():
    p = Policy(settings(), Limits())
    for _ in range(2):
        d = await p.decide(HttpRequest("GET", "/a/../b", {}, "", {POLICY_KEY: "nope"}), Verifiers())
        assert d == Deny("default", 400, "malformed")
        d = await p.decide(HttpRequest("GET", "/healthz", {}, "", {POLICY_KEY: "nope"}), Verifiers())
        assert d == Deny("default", 403, "unknown_policy")


def test_the_route_memo_is_bounded_and_skips_long_paths():
    p = Policy(settings(), Limits())
    for i in range(policy_module.ROUTE_MEMO * 3):
        p._route("GET", f"/api/{i}?q={i}", None)
        assert len(p._routes) <= policy_module.ROUTE_MEMO
    p._routes.clear()
    long = "/api/" + "a" * policy_module.ROUTE_MEMO_TARGET
    assert memoised(p, "GET", long, None) == "api" and not p._routes
    assert memoised(p, "X" * (policy_module.ROUTE_MEMO_TARGET + 1), "/api", None) == "api" and not p._routes


async def test_a_reloaded_policy_decides_by_its_own_rules_not_the_old_memo():
    old = Policy(settings(), Limits())
    assert isinstance(await old.decide(HttpRequest("GET", "/healthz"), Verifiers()), Allow)
    new = Policy(settings(rules=[ExtAuthzRule(name="shut", path_prefix="/", checks=["deny"])]), Limits())
    assert await new.decide(HttpRequest("GET", "/healthz"), Verifiers()) == Deny("shut", 403, "denied_by_rule")


# --- the jwt check's identity headers ---------------------------------------------------------------


class Tokens:
    def __init__(self, auth: AuthInfo) -> None:
        self.auth = auth

    async def verify(self, token, audience, required_scopes):
        return TokenAnswer(Verdict.ok(Source.CACHE), self.auth)


CLAIMS = {"sub": "u1", "email": "u1@example.com", "groups": ["a", "b"], "evil": "x\r\nset-cookie: y", "n": {"b": 1}}
AUTH = AuthInfo(subject="u1", issuer="https://iss", scopes=("read", "write"), claims_json=json.dumps(CLAIMS))
CLAIM_HEADERS = [
    ClaimHeader("email", "x-auth-email"),
    ClaimHeader("groups", "x-auth-groups"),
    ClaimHeader("evil", "x-auth-evil"),
    ClaimHeader("n", "x-auth-n"),
    ClaimHeader("email", "x-auth-subject"),  # a mapping onto our own header: the subject still wins
]


def allow(p: Policy, auth: AuthInfo) -> Allow:
    d = asyncio.run(p.decide(HttpRequest("GET", "/api", {"authorization": "Bearer t"}), Verifiers(tokens=Tokens(auth))))
    assert isinstance(d, Allow), d
    return d


def test_identity_headers_are_the_same_memoised_or_not_and_follow_the_settings():
    p = Policy(settings(claim_headers=CLAIM_HEADERS), Limits())
    expected = (
        ("x-auth-email", "u1@example.com"),
        ("x-auth-groups", "a b"),
        ("x-auth-issuer", "https://iss"),
        ("x-auth-n", '{"b":1}'),
        ("x-auth-rule", "api"),
        ("x-auth-scopes", "read write"),
        ("x-auth-subject", "u1"),
    )
    assert allow(p, AUTH).headers == expected  # computed
    assert allow(p, AUTH).headers == expected  # from the memo
    # A reload's settings (another prefix, no claim mappings) are not answered from the old entry.
    q = Policy(settings(identity_header_prefix="x-id-"), Limits())
    assert allow(q, AUTH).headers == (
        ("x-id-issuer", "https://iss"),
        ("x-id-rule", "api"),
        ("x-id-scopes", "read write"),
        ("x-id-subject", "u1"),
    )
    assert allow(p, AUTH).headers == expected


def test_identity_headers_memo_is_bounded_and_keeps_only_small_claim_sets():
    p = Policy(settings(), Limits())
    jwt_check._identities.clear()
    big = AuthInfo(subject="u2", issuer="https://iss", claims_json=json.dumps({"x": "y" * 2000}))
    assert ("x-auth-subject", "u2") in allow(p, big).headers
    assert not jwt_check._identities
    kept = [AuthInfo(subject=f"u{i}", issuer="https://iss") for i in range(jwt_check.IDENTITY_MEMO + 5)]
    for auth in kept:
        assert ("x-auth-subject", auth.subject) in allow(p, auth).headers
        assert len(jwt_check._identities) <= jwt_check.IDENTITY_MEMO


def test_an_equal_identity_in_another_object_gets_its_own_headers():
    # Keyed by the object (id kept alive in the entry), never by an id a new object might reuse.
    p = Policy(settings(), Limits())
    for i in range(50):
        auth = AuthInfo(subject=f"user-{i}", issuer="https://iss")
        assert ("x-auth-subject", f"user-{i}") in allow(p, auth).headers
        del auth


# --- Policy.bearer ----------------------------------------------------------------------------------

AUTHORIZATIONS = [
    "Bearer abc",
    "Bearer a.b.c",
    "bearer abc",
    "BEARER abc",
    "Bearer  abc",
    "Bearer abc ",
    "Bearer abc def",
    "Bearer ",
    "Bearer",
    "Basic abc",
    "Bearerabc",
    "Bearer a\tb",
    "Bearer a\x0bb",
    "Bearer ab\x1c",
    "Bearer é",
    "Bearer ~!@#$%^&*()",
    "xBearer abc",
]


@pytest.mark.parametrize("authorization", AUTHORIZATIONS)
def test_policy_bearer_reads_what_the_pattern_reads(authorization):
    p = Policy(settings(), Limits())
    request = HttpRequest("GET", "/api", {"authorization": authorization})
    try:
        got: str | None | type = p.bearer(request)
    except InvalidArgument:
        got = InvalidArgument
    printable_ascii = authorization.isascii() and authorization.isprintable()
    expected = (bearer_token(authorization) or InvalidArgument) if printable_ascii else InvalidArgument
    assert got == expected
    match = re.fullmatch(r"Bearer +([^\s]+) *", authorization, re.IGNORECASE)
    if got is not InvalidArgument:
        assert match is not None and got == match.group(1)


# --- decision ids -----------------------------------------------------------------------------------


def test_decision_ids_are_32_hex_digits_and_never_repeat():
    ids = [decision_ids.new_decision_id() for _ in range(decision_ids.ID_BATCH * 20 + 3)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_reuse_the_ids_its_parent_holds():
    decision_ids.new_decision_id()  # the batch now holds ids the parent will hand out
    held = list(decision_ids._batch)
    assert held
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id to the pipe, then out at once
        try:
            os.write(write, decision_ids.new_decision_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child_id = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id not in held


def test_allow_and_deny_keep_their_reading():
    a = Allow("r")
    assert (a.reason, a.status, a.dry_run) == ("none", 200, "")
    assert a != Deny("r", 200, "none") and Deny("r", 403, "x").body == '{"error":"forbidden","reason":"x"}'
