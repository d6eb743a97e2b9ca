"""Through the real Envoy: decision ids, access-log metadata, dry-run rules (flipped by a live
reload), per-route rule sets and routes that never reach the sidecar."""

from __future__ import annotations

import re
import signal

import httpx
import pytest
import yaml
from envoy_harness import headers_of, raw_http

from harness.processes import wait_until

ID = re.compile(r"[0-9a-f]{32}")
HEADER = "x-authsidecar-decision-id"


def call(stack, path: str, method: str = "GET", **headers: str) -> httpx.Response:
    with httpx.Client(timeout=10, trust_env=False) as c:
        return c.request(method, stack.envoy.url() + path, headers={k.replace("_", "-"): v for k, v in headers.items()})


@pytest.fixture(autouse=True)
def _clean(stack):
    stack.app.take()
    yield


def access_line(stack, decision_id: str) -> dict:
    """Envoy writes the access log line once the response is done: wait (bounded) for it."""
    found: list[dict] = []
    wait_until(
        lambda: found.extend(e for e in stack.envoy.access_log() if e.get("decision_id") == decision_id) or bool(found),
        timeout=10,
        step=0.05,
        what="the access log line",
    )
    return found[0]


def decision_line(stack, decision_id: str) -> dict:
    found: list[dict] = []
    wait_until(
        lambda: found.extend(e for e in stack.decisions() if e.get("decision_id") == decision_id) or bool(found),
        timeout=10,
        step=0.05,
        what="the decision log line",
    )
    return found[0]


# --- decision ids and access-log metadata ---------------------------------------------------------


def test_allowed_request_carries_one_decision_id_to_the_app_the_logs_and_envoys_access_log(stack):
    r = call(stack, "/api/orders", authorization=f"Bearer {stack.issuer.token()}", **{HEADER: "forged"})
    assert r.status_code == 200
    (seen,) = stack.app.take()
    (decision_id,) = headers_of(seen)[HEADER]
    assert ID.fullmatch(decision_id)  # ours, not the client's "forged"
    line = decision_line(stack, decision_id)
    assert (line["rule"], line["outcome"]) == ("api", "allow")
    access = access_line(stack, decision_id)
    assert (access["rule"], access["status"], access["reason"]) == ("api", 200, "none")
    # The subject travels only as the decision log's hash, never the user id itself.
    assert access["subject_sha256"] == line["subject_sha256"] and len(access["subject_sha256"]) == 16
    assert "user-1" not in stack.envoy.access_log_path.read_text()


def test_denial_carries_the_decision_id_to_the_client_and_the_logs(stack):
    r = call(stack, "/api/orders")
    assert r.status_code == 401
    decision_id = r.headers[HEADER]
    assert ID.fullmatch(decision_id)
    assert decision_line(stack, decision_id)["reason"] == "missing_credential"
    access = access_line(stack, decision_id)
    assert (access["rule"], access["status"], access["reason"]) == ("api", 401, "missing_credential")
    assert access["subject_sha256"] is None
    assert stack.app.take() == []


def test_every_answer_has_its_own_id(stack):
    ids = {call(stack, "/internal/x").headers[HEADER] for _ in range(5)}
    assert len(ids) == 5


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_rule_lets_a_would_be_denial_through_without_identity(stack):
    before = stack.sidecar.metric(
        "authsidecar_ext_authz_dry_run_total", rule="beta", would="deny", reason="insufficient_scope"
    )
    r = call(stack, "/beta/feature", authorization=f"Bearer {stack.issuer.token()}", x_auth_subject="admin")
    assert r.status_code == 200
    (seen,) = stack.app.take()
    h = headers_of(seen)
    assert h["x-auth-dry-run"] == ["deny"] and h["x-auth-dry-run-reason"] == ["insufficient_scope"]
    assert h["x-auth-rule"] == ["beta"] and "x-auth-subject" not in h  # a denial proves nobody
    line = decision_line(stack, h[HEADER][0])
    assert (line["outcome"], line["dry_run"], line["reason"]) == ("allow", "deny", "insufficient_scope")
    assert access_line(stack, h[HEADER][0])["dry_run"] == "deny"
    assert (
        stack.sidecar.metric(
            "authsidecar_ext_authz_dry_run_total", rule="beta", would="deny", reason="insufficient_scope"
        )
        == before + 1
    )


def test_dry_run_rule_would_allow(stack):
    r = call(stack, "/beta/feature", authorization=f"Bearer {stack.issuer.token(scope='beta')}")
    assert r.status_code == 200
    h = headers_of(stack.app.take()[0])
    assert h["x-auth-dry-run"] == ["allow"] and h["x-auth-subject"] == ["user-1"]


def test_reload_flips_a_rule_between_dry_run_and_enforce(stack):
    original = stack.sidecar.config_path.read_text()
    settings = yaml.safe_load(original)
    for rule in settings["ext_authz"]["rules"]:
        if rule["name"] == "beta":
            rule["mode"] = "enforce"
    reloads = stack.sidecar.metric("authsidecar_config_reloads_total", result="ok")
    try:
        stack.sidecar.config_path.write_text(yaml.safe_dump(settings))
        stack.sidecar.proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: stack.sidecar.metric("authsidecar_config_reloads_total", result="ok") > reloads,
            timeout=15,
            step=0.1,
            what="the reload",
        )
        r = call(stack, "/beta/feature", authorization=f"Bearer {stack.issuer.token()}")
        assert (r.status_code, r.json()["reason"]) == (403, "insufficient_scope")
        assert stack.app.take() == []
    finally:
        reloads = stack.sidecar.metric("authsidecar_config_reloads_total", result="ok")
        stack.sidecar.config_path.write_text(original)
        stack.sidecar.proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: stack.sidecar.metric("authsidecar_config_reloads_total", result="ok") > reloads,
            timeout=15,
            step=0.1,
            what="the reload back",
        )
    assert call(stack, "/beta/feature", authorization=f"Bearer {stack.issuer.token()}").status_code == 200


# --- per-route rule sets and routes without the check ---------------------------------------------


def test_route_context_extension_selects_its_rule_set(stack):
    r = call(stack, "/payments/42", authorization=f"Bearer {stack.issuer.token(scope='payments:read')}")
    assert r.status_code == 200
    assert headers_of(stack.app.take()[0])["x-auth-rule"] == ["payments-read"]
    # The same token's orders scope means nothing there, and the set has no POST rule.
    r = call(stack, "/payments/42", authorization=f"Bearer {stack.issuer.token()}")
    assert (r.status_code, r.json()["reason"]) == (403, "insufficient_scope")
    r = call(stack, "/payments/42", method="POST", authorization=f"Bearer {stack.issuer.token(scope='payments:read')}")
    assert (r.status_code, r.json()["reason"]) == (403, "no_matching_rule")
    # Outside the route, the default rules apply and have no /payments rule.
    r = call(stack, "/paymentsx", authorization=f"Bearer {stack.issuer.token(scope='payments:read')}")
    assert (r.status_code, r.json()["reason"]) == (403, "no_matching_rule")
    assert stack.app.take() == []


def test_disabled_route_never_reaches_the_sidecar_and_loses_forged_identity(stack):
    checks = stack.sidecar.metric("authsidecar_rpc_total", method="Check")
    status, _, _ = raw_http(
        stack.port, "GET", "/static/app.js", [("x-auth-subject", "admin"), ("X-Auth-Rule", "api"), (HEADER, "forged")]
    )
    assert status == 200
    h = headers_of(stack.app.take()[0])
    assert not {"x-auth-subject", "x-auth-rule", HEADER} & set(h)
    assert stack.sidecar.metric("authsidecar_rpc_total", method="Check") == checks
    # Even with the sidecar paused the route answers: Envoy never asks.
    stack.sidecar.proc.send_signal(signal.SIGSTOP)
    try:
        status, _, _ = raw_http(stack.port, "GET", "/static/app.js")
    finally:
        stack.sidecar.proc.send_signal(signal.SIGCONT)
    assert status == 200
    # A dot segment out of /static/ is resolved first: the rules decide.
    status, _, _ = raw_http(stack.port, "GET", "/static/../api/orders")
    assert status == 401


def test_forged_dry_run_and_peer_headers_never_reach_the_app(stack):
    status, _, _ = raw_http(
        stack.port,
        "GET",
        "/api/orders",
        [
            ("authorization", f"Bearer {stack.issuer.token()}"),
            ("x-auth-dry-run", "deny"),
            ("x-auth-dry-run-reason", "expired"),
            ("x-auth-peer", "spiffe://example.org/ns/shop/sa/admin"),
        ],
    )
    assert status == 200
    h = headers_of(stack.app.take()[0])
    assert not {"x-auth-dry-run", "x-auth-dry-run-reason", "x-auth-peer"} & set(h)
    assert h["x-auth-subject"] == ["user-1"]
