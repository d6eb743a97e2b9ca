"""Dry-run rules, per-route rule sets, the SPIFFE peer check and decision ids — in process, with
hostile values for every new surface (config keys, the context_extensions value, the principal)."""

from __future__ import annotations

import pytest
import yaml

from envoy.service.auth.v3 import attribute_context_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from sidecar.api.ext_authz import check_response, http_request
from sidecar.config import ConfigError, ExtAuthzPolicySet, ExtAuthzRule, ExtAuthzSettings, Limits, load, spiffe
from sidecar.core.ext_authz.decisions import Allow, Deny
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.ext_authz.policy import Policy, Verifiers

PEER = "spiffe://example.org/ns/payments/sa/api"


def policy(rules: list[ExtAuthzRule], **kw) -> Policy:
    return Policy(ExtAuthzSettings(rules=rules, **kw), Limits())


async def decide(p: Policy, path: str = "/x", method: str = "GET", headers=None, principal: str = "", context=None):
    return await p.decide(HttpRequest(method, path, headers or {}, principal, context or {}), Verifiers())


def load_ext_authz(tmp_path, section: dict):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"ext_authz": section}))
    return load(path, env={})


# --- dry run --------------------------------------------------------------------------------------


async def test_dry_run_denial_is_an_allow_that_names_the_would_be_answer_and_passes_no_identity():
    p = policy([ExtAuthzRule(name="api", path_prefix="/api", checks=["jwt"], mode="dry_run")])
    d = await decide(p, "/api/x", headers={"x-auth-subject": "admin", "x_auth_role": "root"})
    assert isinstance(d, Allow) and (d.dry_run, d.would_reason) == ("deny", "check_unavailable")
    assert dict(d.headers) == {
        "x-auth-dry-run": "deny",
        "x-auth-dry-run-reason": "check_unavailable",
        "x-auth-rule": "api",
    }
    assert sorted(d.remove) == ["x-auth-subject", "x_auth_role"]


async def test_global_dry_run_covers_unmatched_requests_but_never_bad_paths_or_unknown_sets():
    p = policy(
        [ExtAuthzRule(name="closed", path_prefix="/closed", checks=["deny"], mode="enforce")], default_mode="dry_run"
    )
    assert isinstance(await decide(p, "/elsewhere"), Allow)
    assert isinstance(await decide(p, "/closed"), Deny)  # an explicit enforce rule stays
    assert (await decide(p, "/a/../b")).status == 400
    assert (await decide(p, "/x", context={"authsidecar_policy": "nope"})).reason == "unknown_policy"


async def test_enforce_is_the_default():
    d = await decide(policy([ExtAuthzRule(name="d", path_prefix="/", checks=["deny"])]), "/x")
    assert isinstance(d, Deny)


# --- per-route rule sets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["", "PAYMENTS", "payments ", "payments\r\nx", "../payments", "x" * 100_000, "\udcff", "default"]
)
async def test_a_context_extension_naming_no_rule_set_is_refused(value):
    p = policy(
        [ExtAuthzRule(name="open", path_prefix="/", checks=["allow"])],
        policies=[ExtAuthzPolicySet("payments", [ExtAuthzRule(name="p", path_prefix="/", checks=["allow"])])],
    )
    d = await decide(p, "/x", context={"authsidecar_policy": value})
    assert isinstance(d, Deny) and (d.status, d.reason, d.rule) == (403, "unknown_policy", "default")


async def test_the_named_set_replaces_the_default_rules_and_other_keys_are_ignored():
    p = policy(
        [ExtAuthzRule(name="open", path_prefix="/", checks=["allow"])],
        policies=[ExtAuthzPolicySet("payments", [ExtAuthzRule(name="p", path_prefix="/pay", checks=["allow"])])],
    )
    assert (await decide(p, "/pay", context={"authsidecar_policy": "payments"})).rule == "p"
    assert (await decide(p, "/other", context={"authsidecar_policy": "payments"})).reason == "no_matching_rule"
    assert (await decide(p, "/other", context={"team": "x" * 10_000})).rule == "open"


# --- the peer check -------------------------------------------------------------------------------


def peer_policy(*patterns: str, checks=("peer",)) -> Policy:
    return policy([ExtAuthzRule(name="svc", path_prefix="/", checks=list(checks), peers=list(patterns))])


async def test_peer_matches_exact_ids_and_whole_segment_wildcards():
    p = peer_policy(PEER, "spiffe://example.org/ns/*/sa/web")
    for ok in (PEER, "spiffe://example.org/ns/shop/sa/web"):
        d = await decide(p, principal=ok)
        assert isinstance(d, Allow) and dict(d.headers)["x-auth-peer"] == ok
    assert (await decide(p)).reason == "peer_required"


@pytest.mark.parametrize(
    "principal",
    [
        "spiffe://example.org/ns/payments/sa/api/extra",  # longer
        "spiffe://example.org/ns/payments/sa",  # shorter
        "spiffe://Example.org/ns/payments/sa/api",  # trust domains are lower case by spec
        "spiffe://example.org.evil.com/ns/payments/sa/api",
        "spiffe://evil.com/ns/payments/sa/api",
        "spiffe://example.org/ns/payments/sa/api/",
        "spiffe://example.org/ns//sa/web",  # an empty segment is not a wildcard match
        "spiffe://example.org/ns/./sa/web",
        "spiffe://example.org/ns/../ns/payments/sa/api",
        "spiffe://example.org/ns/%70ayments/sa/api",
        "spiffe://example.org/ns/payments/sa/api?x=1",
        "spiffe://example.org/ns/payments/sa/api#x",
        "spiffe://user@example.org/ns/payments/sa/api",
        "spiffe://example.org:443/ns/payments/sa/api",
        "SPIFFE://example.org/ns/payments/sa/api",
        "spiffe://example.org/ns/payments/sa/api\r\nx-auth-subject: admin",
        "spiffe://example.org/ns/payments/sa/api\x00",
        "spiffe://example.org/ns/pay\u0430ments/sa/api",  # Cyrillic a
        "spiffe://example.org/" + "a/" * 1100 + "api",  # over 2048 bytes
        "CN=payments,O=example",  # a certificate without a URI SAN
        "payments.example.org",
    ],
)
async def test_peer_refuses_everything_else(principal):
    d = await decide(peer_policy(PEER, "spiffe://example.org/ns/*/sa/web"), principal=principal)
    assert isinstance(d, Deny) and (d.status, d.reason) == (403, "peer_not_allowed")


async def test_peer_combines_with_other_checks():
    d = await decide(peer_policy(PEER, checks=("peer", "jwt")), principal=PEER)
    assert isinstance(d, Deny) and d.reason == "check_unavailable"  # the jwt check still runs
    assert (await decide(peer_policy(PEER, checks=("jwt", "peer")))).status == 503


def test_spiffe_parse_accepts_the_spec():
    assert spiffe.parse("spiffe://example.org") == spiffe.SpiffeId("example.org", ())
    assert spiffe.parse("spiffe://a-b_c.d/A.b-c_D/9") == spiffe.SpiffeId("a-b_c.d", ("A.b-c_D", "9"))


# --- config ---------------------------------------------------------------------------------------


def test_new_keys_load(tmp_path):
    s = load_ext_authz(
        tmp_path,
        {
            "default_mode": "dry_run",
            "rules": [
                {"name": "svc", "path_prefix": "/", "checks": ["peer", "jwt"], "peers": [PEER], "mode": "enforce"}
            ],
            "policies": [{"name": "payments", "rules": [{"name": "p", "path_prefix": "/", "checks": ["allow"]}]}],
        },
    )
    assert s.ext_authz.default_mode == "dry_run" and s.ext_authz.rules[0].peers == [PEER]
    assert s.ext_authz.policies[0].rules[0].name == "p"


@pytest.mark.parametrize(
    "section, problem",
    [
        ({"default_mode": "shadow"}, "ext_authz.default_mode"),
        ({"default_mode": ["dry_run"]}, "ext_authz.default_mode"),
        ({"rules": [{"name": "a", "checks": ["allow"], "mode": "DRY_RUN"}]}, "ext_authz.rules[0].mode"),
        ({"rules": [{"name": "a", "checks": ["allow"], "mode": True}]}, "ext_authz.rules[0].mode"),
        ({"rules": [{"name": "a", "checks": ["peer"]}]}, "ext_authz.rules[0].peers"),
        ({"rules": [{"name": "a", "checks": ["allow"], "peers": [PEER]}]}, "ext_authz.rules[0].peers"),
        ({"rules": [{"name": "a", "checks": ["peer"], "peers": ["spiffe://*/ns/x"]}]}, "ext_authz.rules[0].peers[0]"),
        (
            {"rules": [{"name": "a", "checks": ["peer"], "peers": ["spiffe://e.org/ns/x*"]}]},
            "ext_authz.rules[0].peers[0]",
        ),
        ({"rules": [{"name": "a", "checks": ["peer"], "peers": ["https://e.org/x"]}]}, "ext_authz.rules[0].peers[0]"),
        (
            {"rules": [{"name": "a", "checks": ["peer"], "peers": ["spiffe://e.org/" + "x" * 3000]}]},
            "ext_authz.rules[0].peers[0]",
        ),
        ({"rules": [{"name": "a", "checks": ["peer"], "peers": [PEER] * 300}]}, "ext_authz.rules[0].peers: at most"),
        ({"rules": [{"name": "a", "checks": ["peer"], "peers": {"x": 1}}]}, "ext_authz.rules[0].peers"),
        (
            {"rules": [{"name": "a", "checks": ["peer", "approval"], "peers": [PEER]}]},
            "approval needs a jwt or session",
        ),
        ({"policies": [{"name": "Pay Ments", "rules": []}]}, "ext_authz.policies[0].name"),
        ({"policies": [{"name": "p", "rules": []}, {"name": "p", "rules": []}]}, "duplicate policy name p"),
        (
            {"policies": [{"name": "p", "rules": [{"name": "a", "checks": ["jwtt"]}]}]},
            "ext_authz.policies[0].rules[0].checks",
        ),
        (
            {
                "rules": [{"name": "a", "checks": ["allow"]}],
                "policies": [{"name": "p", "rules": [{"name": "a", "checks": ["allow"]}]}],
            },
            "ext_authz.policies[0].rules[0].name: duplicate rule name a",
        ),
        ({"policies": "payments"}, "ext_authz.policies"),
    ],
)
def test_bad_new_keys_are_named(tmp_path, section, problem):
    with pytest.raises(ConfigError) as err:
        load_ext_authz(tmp_path, section)
    assert problem in str(err.value)
    assert len(str(err.value)) < 2000  # a hostile value is never echoed whole


# --- decision ids on the wire ---------------------------------------------------------------------


def test_the_decision_id_goes_to_the_app_or_the_client_and_into_dynamic_metadata():
    allowed = check_response(Allow("api", (("x-auth-subject", "user-1"),)), "ab" * 16)
    headers = {h.header.key: h.header.value for h in allowed.ok_response.headers}
    assert headers["x-authsidecar-decision-id"] == "ab" * 16
    meta = dict(allowed.dynamic_metadata)
    assert meta["decision_id"] == "ab" * 16 and meta["rule"] == "api" and len(meta["subject_sha256"]) == 16
    assert "user-1" not in str(allowed.dynamic_metadata)
    denied = check_response(Deny("api", 401, "expired"), "cd" * 16)
    assert {h.header.key: h.header.value for h in denied.denied_response.headers}[
        "x-authsidecar-decision-id"
    ] == "cd" * 16
    assert dict(denied.dynamic_metadata) == {"decision_id": "cd" * 16, "rule": "api", "reason": "expired"}


def test_other_spellings_of_the_decision_id_header_are_removed():
    request = HttpRequest("GET", "/", {"x_authsidecar_decision_id": "forged", "X-Authsidecar-Decision_Id": "f"})
    r = check_response(Allow("open"), "ab" * 16, checked=request)
    assert sorted(r.ok_response.headers_to_remove) == ["X-Authsidecar-Decision_Id", "x_authsidecar_decision_id"]


def test_principal_and_context_extensions_are_read_from_envoys_request():
    attrs = attribute_context_pb2.AttributeContext(
        source=attribute_context_pb2.AttributeContext.Peer(principal=PEER),
        context_extensions={"authsidecar_policy": "payments"},
    )
    attrs.request.http.path = "/x"
    checked = http_request(pb.CheckRequest(attributes=attrs))
    assert (checked.principal, dict(checked.context)) == (PEER, {"authsidecar_policy": "payments"})
