"""The ext_authz policy with fake verifiers: rule order, each check's allow/deny, headers, fail-closed."""

from __future__ import annotations

import importlib
import json

import pytest

from sidecar.config import EXT_AUTHZ_CHECKS, ClaimHeader, ExtAuthzRule, ExtAuthzSettings, Limits
from sidecar.core.ext_authz.checks.registry import CHECKS
from sidecar.core.ext_authz.decisions import Allow, Deny
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.ext_authz.policy import Policy, Verifiers
from sidecar.core.shared.answers import ApprovalAnswer, AuthInfo, ChallengeAnswer, SessionAnswer, TokenAnswer
from sidecar.core.shared.outcomes import (
    InvalidArgument,
    Reason,
    SessionStatus,
    Source,
    UpstreamError,
    Verdict,
)

PHONE = "+14155552671"
GOOD = TokenAnswer(
    Verdict.ok(Source.CACHE),
    AuthInfo(
        subject="u1",
        issuer="https://iss",
        scopes=("read", "write"),
        claims_json=json.dumps(
            {"sub": "u1", "email": "u1@example.com", "groups": ["a", "b"], "evil": "x\r\nset-cookie: y"}
        ),
    ),
)


class FakeTokens:
    def __init__(self, answers: dict[str, TokenAnswer]) -> None:
        self.answers = answers
        self.calls: list[tuple] = []

    async def verify(self, token, audience, required_scopes):
        self.calls.append((token, audience, tuple(required_scopes)))
        answer = self.answers.get(token, TokenAnswer(Verdict.deny(Reason.BAD_SIGNATURE)))
        if answer.verdict.valid and answer.auth and not set(required_scopes) <= set(answer.auth.scopes):
            return TokenAnswer(Verdict.deny(Reason.INSUFFICIENT_SCOPE))
        return answer


class FakeSessions:
    def __init__(self, sessions=None, approvals=None, raises: Exception | None = None) -> None:
        self.sessions = sessions or {}
        self.approvals = approvals or {}
        self.raises = raises
        self.calls: list[tuple] = []

    async def verify_session(self, token, phone_e164):
        self.calls.append(("session", token, phone_e164))
        if self.raises:
            raise self.raises
        return self.sessions.get(
            (token, phone_e164), SessionAnswer(Verdict.deny(Reason.NOT_FOUND), SessionStatus.NOT_FOUND)
        )

    async def verify_approval(self, token, phone_e164):
        self.calls.append(("approval", token, phone_e164))
        return self.approvals.get((token, phone_e164), ApprovalAnswer(Verdict.deny(Reason.NOT_FOUND)))


class FakeChallenges:
    def __init__(self, answers=None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple] = []

    async def validate(self, token, user_id, action):
        self.calls.append((token, user_id, action))
        return self.answers.get(token, ChallengeAnswer(Verdict.deny(Reason.NOT_FOUND)))


RULES = [
    ExtAuthzRule(name="health", path_prefix="/healthz", methods=["GET"], checks=["allow"]),
    ExtAuthzRule(name="admin", path_prefix="/admin", checks=["deny"]),
    ExtAuthzRule(
        name="transfer",
        path_regex=r"/api/transfers(/[0-9]+)?",
        methods=["POST"],
        checks=["jwt", "approval"],
        action="transfer",
    ),
    ExtAuthzRule(name="wire", path_prefix="/api/wire", checks=["jwt", "challenge"], action="wire"),
    ExtAuthzRule(name="api", path_prefix="/api", checks=["jwt"], required_scopes=["read"], issuers=["https://iss"]),
    ExtAuthzRule(name="app", path_prefix="/app", checks=["session"]),
]


def policy(**changes) -> Policy:
    settings = ExtAuthzSettings(
        rules=RULES,
        claim_headers=[
            ClaimHeader("email", "x-auth-email"),
            ClaimHeader("groups", "x-auth-groups"),
            ClaimHeader("evil", "x-auth-evil"),
        ],
    )
    for key, value in changes.items():
        setattr(settings, key, value)
    return Policy(settings, Limits(max_token_bytes=256))


def req(method: str, path: str, **headers: str) -> HttpRequest:
    return HttpRequest(method, path, {k.replace("_", "-"): v for k, v in headers.items()})


def verifiers(**kw) -> Verifiers:
    return Verifiers(
        tokens=kw.get("tokens", FakeTokens({"good": GOOD})),
        sessions=kw.get("sessions", FakeSessions()),
        challenges=kw.get("challenges", FakeChallenges()),
    )


async def test_valid_bearer_allows_with_identity_headers_and_forged_ones_removed():
    tokens = FakeTokens({"good": GOOD})
    d = await policy().decide(
        req("GET", "/api/items?x=1", authorization="Bearer good", x_auth_subject="admin", x_auth_role="root"),
        verifiers(tokens=tokens),
    )
    assert isinstance(d, Allow) and d.rule == "api"
    headers = dict(d.headers)
    assert headers["x-auth-subject"] == "u1" and headers["x-auth-issuer"] == "https://iss"
    assert headers["x-auth-scopes"] == "read write" and headers["x-auth-rule"] == "api"
    assert headers["x-auth-email"] == "u1@example.com" and headers["x-auth-groups"] == "a b"
    assert "x-auth-evil" not in headers  # CR/LF in a claim: never a header
    assert d.remove == ("x-auth-role",)  # x-auth-subject is overwritten, not removed
    assert tokens.calls == [("good", None, ("read",))]


async def test_forged_header_for_an_absent_claim_is_removed():
    answer = TokenAnswer(Verdict.ok(Source.CACHE), AuthInfo(subject="u1", issuer="https://iss", scopes=("read",)))
    d = await policy().decide(
        req("GET", "/api/x", authorization="Bearer t", x_auth_email="boss@example.com"),
        verifiers(tokens=FakeTokens({"t": answer})),
    )
    assert isinstance(d, Allow) and "x-auth-email" not in dict(d.headers) and "x-auth-email" in d.remove


@pytest.mark.parametrize(
    "headers,status,reason,www",
    [
        ({}, 401, "missing_credential", 'Bearer realm="authsidecar"'),
        ({"authorization": "Basic dTpw"}, 401, "malformed", 'Bearer realm="authsidecar", error="invalid_request"'),
        ({"authorization": "Bearer " + "a" * 300}, 401, "malformed", None),
        ({"authorization": "Bearer forged"}, 401, "bad_signature", 'Bearer realm="authsidecar", error="invalid_token"'),
    ],
)
async def test_bad_bearer_is_401_with_www_authenticate(headers, status, reason, www):
    d = await policy().decide(req("GET", "/api/x", **headers), verifiers())
    assert isinstance(d, Deny) and (d.status, d.reason, d.rule) == (status, reason, "api")
    if www:
        assert dict(d.headers)["www-authenticate"] == www
    assert json.loads(d.body) == {"error": "unauthorized", "reason": reason}


async def test_expired_bearer_reason_is_passed_on_without_detail():
    expired = TokenAnswer(Verdict.deny(Reason.EXPIRED, detail="exp 1700000000 < now"))
    d = await policy().decide(
        req("GET", "/api/x", authorization="Bearer old"), verifiers(tokens=FakeTokens({"old": expired}))
    )
    assert (d.status, d.reason) == (401, "expired") and "1700000000" not in d.body


async def test_wrong_scope_is_403_insufficient_scope():
    answer = TokenAnswer(Verdict.ok(Source.CACHE), AuthInfo(subject="u1", issuer="https://iss", scopes=("write",)))
    d = await policy().decide(
        req("GET", "/api/x", authorization="Bearer w"), verifiers(tokens=FakeTokens({"w": answer}))
    )
    assert isinstance(d, Deny) and (d.status, d.reason) == (403, "insufficient_scope")
    assert 'error="insufficient_scope", scope="read"' in dict(d.headers)["www-authenticate"]


async def test_issuer_outside_the_rule_list_is_denied():
    answer = TokenAnswer(Verdict.ok(Source.CACHE), AuthInfo(subject="u1", issuer="https://other", scopes=("read",)))
    d = await policy().decide(
        req("GET", "/api/x", authorization="Bearer o"), verifiers(tokens=FakeTokens({"o": answer}))
    )
    assert (d.status, d.reason) == (401, "untrusted_issuer")


async def test_valid_flag_without_auth_info_fails_closed():
    d = await policy().decide(
        req("GET", "/api/x", authorization="Bearer n"),
        verifiers(tokens=FakeTokens({"n": TokenAnswer(Verdict.ok(Source.CACHE))})),
    )
    assert isinstance(d, Deny) and d.status == 401


@pytest.mark.parametrize(
    "method,path,rule,status",
    [
        ("GET", "/healthz", "health", 200),
        ("POST", "/healthz", "default", 403),  # method does not match: falls through to default
        ("GET", "/admin/users", "admin", 403),
        ("GET", "/adminx", "default", 403),  # prefixes match whole segments
        ("GET", "/", "default", 403),
        ("GET", "/healthz/../admin", "default", 400),  # dot segments are refused, not resolved
        ("GET", "/healthz/%2e%2e/admin", "default", 400),
        ("GET", "//healthz", "health", 200),  # repeated slashes are merged
    ],
)
async def test_rules_first_match_wins_default_deny(method, path, rule, status):
    d = await policy().decide(req(method, path), verifiers())
    assert (d.rule, d.status) == (rule, status)


async def test_rule_order_decides_between_overlapping_rules():
    tokens = FakeTokens({"good": GOOD})
    d = await policy().decide(req("GET", "/api/wire/1", authorization="Bearer good"), verifiers(tokens=tokens))
    assert (d.rule, d.status, d.reason) == ("wire", 403, "challenge_required")


async def test_session_check_allows_verified_and_denies_revoked():
    ok = SessionAnswer(Verdict.ok(Source.CACHE), SessionStatus.VERIFIED)
    revoked = SessionAnswer(Verdict.deny(Reason.REVOKED, source=Source.STREAM), SessionStatus.REVOKED)
    sessions = FakeSessions({("s1", PHONE): ok, ("s2", PHONE): revoked})
    p = policy(strip_credentials=True)
    allowed = await p.decide(
        req("GET", "/app/home", x_session_token="s1", x_user_phone="+1 (415) 555-2671"), verifiers(sessions=sessions)
    )
    assert isinstance(allowed, Allow)
    assert dict(allowed.headers)["x-auth-phone"] == PHONE and allowed.remove == ("x-session-token",)
    denied = await p.decide(
        req("GET", "/app/home", x_session_token="s2", x_user_phone=PHONE), verifiers(sessions=sessions)
    )
    assert (denied.status, denied.reason) == (401, "revoked")
    assert sessions.calls == [("session", "s1", PHONE), ("session", "s2", PHONE)]


async def test_session_check_missing_or_bad_phone():
    sessions = FakeSessions()
    d = await policy().decide(req("GET", "/app", x_session_token="s1"), verifiers(sessions=sessions))
    assert (d.status, d.reason) == (401, "missing_credential")
    d = await policy().decide(
        req("GET", "/app", x_session_token="s1", x_user_phone="nope"), verifiers(sessions=sessions)
    )
    assert (d.status, d.reason) == (401, "malformed")
    assert sessions.calls == []


@pytest.mark.parametrize(
    "error,status,reason",
    [
        (UpstreamError("platform", 503, "down"), 503, "upstream_unavailable"),
        (InvalidArgument("session_token", "too long"), 401, "malformed"),
    ],
)
async def test_verifier_exceptions_fail_closed(error, status, reason):
    d = await policy().decide(
        req("GET", "/app", x_session_token="s1", x_user_phone=PHONE), verifiers(sessions=FakeSessions(raises=error))
    )
    assert isinstance(d, Deny) and (d.status, d.reason) == (status, reason)


async def test_upstream_unavailable_answer_is_503():
    sessions = FakeSessions({("s1", PHONE): SessionAnswer(Verdict.deny(Reason.UPSTREAM_UNAVAILABLE))})
    d = await policy().decide(
        req("GET", "/app", x_session_token="s1", x_user_phone=PHONE), verifiers(sessions=sessions)
    )
    assert (d.status, d.reason) == (503, "upstream_unavailable")


async def test_missing_component_denies():
    d = await policy().decide(req("GET", "/api/x", authorization="Bearer good"), Verifiers())
    assert isinstance(d, Deny) and (d.status, d.reason) == (503, "check_unavailable")


async def test_approval_required_on_sensitive_route():
    approvals = {
        ("a1", PHONE): ApprovalAnswer(Verdict.ok(Source.UPSTREAM), action="transfer"),
        ("a2", PHONE): ApprovalAnswer(Verdict.ok(Source.UPSTREAM), action="delete"),
        ("a3", PHONE): ApprovalAnswer(Verdict.deny(Reason.ALREADY_USED)),
    }
    sessions = FakeSessions(approvals=approvals)
    base = {"authorization": "Bearer good", "x_user_phone": PHONE}
    p = policy()
    d = await p.decide(req("POST", "/api/transfers", **base), verifiers(sessions=sessions))
    assert (d.rule, d.status, d.reason) == ("transfer", 403, "approval_required")
    d = await p.decide(req("POST", "/api/transfers/7", x_approval_token="a1", **base), verifiers(sessions=sessions))
    assert isinstance(d, Allow) and dict(d.headers)["x-auth-approved-action"] == "transfer"
    assert dict(d.headers)["x-auth-subject"] == "u1"
    d = await p.decide(req("POST", "/api/transfers", x_approval_token="a2", **base), verifiers(sessions=sessions))
    assert (d.status, d.reason) == (403, "action_mismatch")
    d = await p.decide(req("POST", "/api/transfers", x_approval_token="a3", **base), verifiers(sessions=sessions))
    assert (d.status, d.reason) == (403, "already_used")
    d = await p.decide(
        req("POST", "/api/transfers", x_approval_token="a1", authorization="Bearer bad", x_user_phone=PHONE),
        verifiers(sessions=sessions),
    )
    assert (d.status, d.reason) == (401, "bad_signature")  # jwt first: the approval is not spent
    assert [c[1] for c in sessions.calls] == ["a1", "a2", "a3"]


async def test_challenge_is_bound_to_the_bearer_subject():
    challenges = FakeChallenges(
        {
            "c1": ChallengeAnswer(Verdict.ok(Source.UPSTREAM), user_id="u1", action="wire"),
            "c2": ChallengeAnswer(Verdict.ok(Source.UPSTREAM), user_id="u2", action="wire"),
        }
    )
    p = policy()
    d = await p.decide(
        req("GET", "/api/wire", authorization="Bearer good", x_challenge_token="c1"), verifiers(challenges=challenges)
    )
    assert isinstance(d, Allow) and dict(d.headers)["x-auth-challenge-action"] == "wire"
    d = await p.decide(
        req("GET", "/api/wire", authorization="Bearer good", x_challenge_token="c2"), verifiers(challenges=challenges)
    )
    assert (d.status, d.reason) == (403, "subject_mismatch")
    assert challenges.calls == [("c1", "u1", "wire"), ("c2", "u1", "wire")]


async def test_invalid_answer_without_reason_is_still_a_deny():
    weird = SessionAnswer(Verdict(valid=False))
    d = await policy().decide(
        req("GET", "/app", x_session_token="s1", x_user_phone=PHONE),
        verifiers(sessions=FakeSessions({("s1", PHONE): weird})),
    )
    assert isinstance(d, Deny) and d.reason == "not_verified"


async def test_forged_identity_headers_spelt_with_underscores_are_removed():
    # Envoy forwards x_auth_subject as is; CGI/WSGI backends read it as HTTP_X_AUTH_SUBJECT (issue 16 case 8).
    headers = {
        "authorization": "Bearer good",
        "x_auth_subject": "admin",
        "x-auth_scopes": "admin:all",
        "x_auth-role": "root",
        "x-auth-subject": "admin",
        "x-authz": "kept",
        "x_user_phone": "kept",
    }
    d = await policy().decide(HttpRequest("GET", "/api/items", headers), verifiers())
    assert isinstance(d, Allow) and dict(d.headers)["x-auth-subject"] == "u1"
    assert d.remove == ("x-auth_scopes", "x_auth-role", "x_auth_subject")  # x-auth-subject: overwritten


async def test_identity_headers_never_come_from_a_one_time_token():
    # A stolen step-up token must not name the caller (issue 16 case 9): the subject is the bearer's.
    challenges = FakeChallenges({"c1": ChallengeAnswer(Verdict.ok(Source.UPSTREAM), user_id="victim", action="")})
    approvals = {("a1", PHONE): ApprovalAnswer(Verdict.ok(Source.UPSTREAM), action="transfer")}
    rules = [
        ExtAuthzRule(name="step", path_prefix="/step", checks=["jwt", "challenge"]),
        ExtAuthzRule(name="pay", path_prefix="/pay", checks=["jwt", "approval"]),
        ExtAuthzRule(name="web", path_prefix="/web", checks=["session", "challenge"]),
    ]
    p = policy(rules=rules)
    d = await p.decide(
        req("GET", "/step", authorization="Bearer good", x_challenge_token="c1"), verifiers(challenges=challenges)
    )
    # The platform bound the challenge to u1 (the call carried the bearer's subject); the answer's user is not used.
    assert challenges.calls == [("c1", "u1", None)]
    assert isinstance(d, Deny) and d.reason == "subject_mismatch"
    d = await p.decide(
        req("GET", "/pay", authorization="Bearer good", x_approval_token="a1", x_user_phone=PHONE),
        verifiers(sessions=FakeSessions(approvals=approvals)),
    )
    assert isinstance(d, Allow) and dict(d.headers)["x-auth-subject"] == "u1"
    assert "x-auth-phone" not in dict(d.headers)  # the approval's phone is no identity
    sessions = FakeSessions({("s1", PHONE): SessionAnswer(Verdict.ok(Source.CACHE), SessionStatus.VERIFIED)})
    d = await p.decide(
        req("GET", "/web", x_session_token="s1", x_user_phone=PHONE, x_challenge_token="c1"),
        verifiers(sessions=sessions, challenges=challenges),
    )
    assert isinstance(d, Allow) and dict(d.headers)["x-auth-phone"] == PHONE  # from the session check
    assert "x-auth-subject" not in dict(d.headers)  # not the challenge's "victim"


def test_each_check_a_rule_may_name_is_one_file_in_the_registry():
    # One vocabulary: the names config validation accepts are exactly the checks policy.py can run,
    # each in its own module under core/ext_authz/checks/ (named after it).
    assert set(CHECKS) == set(EXT_AUTHZ_CHECKS) == {"jwt", "session", "approval", "challenge", "peer"}
    for name, check in CHECKS.items():
        assert check.__module__ == f"sidecar.core.ext_authz.checks.{name}"
        assert importlib.import_module(check.__module__).__name__.endswith(name)
