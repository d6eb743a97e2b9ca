"""The decision log against a real sidecar process: one JSON line per decision (allow and deny, RPCs and
ext_authz Checks), sampled, rate-limited with a count of what was dropped, and never a secret."""

from __future__ import annotations

import hashlib
import json
import time

import yaml
from envoy_wire import CHECK_METHOD, check_request, read_check_response
from test_sessions import PHONE, new_session
from test_sessions import verify as verify_session
from test_verify_token import mint, verify

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until

RULES = [
    {"name": "api", "path_prefix": "/api", "checks": ["jwt"]},
    {"name": "app", "path_prefix": "/app", "checks": ["session"]},
]


def decisions(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start(sidecar_factory, tmp_path, **log_settings):
    path = tmp_path / "decisions.jsonl"
    sc = sidecar_factory(
        {"decision_log": {"enabled": True, "path": str(path), **log_settings}, "ext_authz": {"rules": RULES}}
    )
    check_rpc = sc.channel.unary_unary(CHECK_METHOD)
    sc.check = lambda method, p, **headers: read_check_response(
        check_rpc(check_request(method, p, headers), timeout=10)
    )
    return sc, path


def test_allow_and_deny_lines_carry_labels_and_no_secrets(sidecar_factory, emulator, tmp_path):
    sc, path = start(sidecar_factory, tmp_path)
    token = mint(emulator, claims={"sub": "user-42"})
    session = new_session(emulator)
    assert verify(sc, token).valid
    assert not verify(sc, token + "x").valid
    assert verify_session(sc, session).valid
    assert sc.check("GET", "/api/orders", authorization=f"Bearer {token}").allowed
    assert not sc.check("GET", "/app/home", **{"x-session-token": session + "zz", "x-user-phone": PHONE}).allowed
    assert not sc.check("GET", "/nowhere").allowed
    wait_until(lambda: len(decisions(path)) == 6, timeout=10, what="six decision lines")
    lines = decisions(path)
    by = [(d["method"], d.get("rule", ""), d["outcome"], d["reason"]) for d in lines]
    assert by == [
        ("VerifyToken", "", "valid", "none"),
        ("VerifyToken", "", "invalid", "bad_signature"),
        ("VerifySession", "", "valid", "none"),
        ("Check", "api", "allow", "none"),
        ("Check", "app", "deny", "not_found"),
        ("Check", "default", "deny", "no_matching_rule"),
    ]
    subject = hashlib.sha256(b"user-42").hexdigest()[:16]
    main_issuer = f"{emulator.url}/issuers/main"
    assert lines[0]["issuer"] == main_issuer and lines[0]["subject_sha256"] == subject
    assert lines[0]["source"] == "local"
    assert lines[3]["issuer"] == main_issuer and lines[3]["subject_sha256"] == subject
    assert lines[2]["source"] == "upstream" and lines[2]["subject_sha256"] == ""
    for line in lines:
        assert line["log"] == "decision" and line["time"].endswith("Z") and line["latency_ms"] >= 0
        assert line["trace_id"] == ""  # tracing is off here
    everything = path.read_text() + sc.log_path.read_text(errors="replace")
    for secret in (token, token.split(".")[2], session, PHONE, PHONE[1:], "user-42"):
        assert secret not in everything


def test_sampling_writes_about_the_configured_share(sidecar_factory, emulator, tmp_path):
    sc, path = start(sidecar_factory, tmp_path, sample_ratio=0.5)
    token = mint(emulator)
    for _ in range(200):
        verify(sc, token)
    time.sleep(0.2)  # the lines are written before each answer; this only lets the file settle
    assert 60 <= len(decisions(path)) <= 140  # binomial(200, 0.5): outside this is < 1e-8 likely


def test_the_rate_limit_drops_and_counts_and_reports(sidecar_factory, emulator, tmp_path):
    sc, path = start(sidecar_factory, tmp_path, max_per_second=5)
    token = mint(emulator)
    started = time.monotonic()
    for _ in range(60):
        verify(sc, token)
    elapsed = time.monotonic() - started
    written = [d for d in decisions(path) if "method" in d]
    assert len(written) <= 5 + 5 * elapsed + 1
    dropped = sc.metric("authsidecar_decision_log_dropped_total", cause="rate_limit")
    assert dropped == 60 - len(written)
    wait_until(lambda: any("decisions_dropped" in d for d in decisions(path)), timeout=5, what="the dropped-count line")
    reported = sum(d["decisions_dropped"] for d in decisions(path) if "decisions_dropped" in d)
    assert reported == dropped
    assert sc.metric("authsidecar_decision_log_lines_total") == len(written)


def test_off_by_default_and_switched_on_by_a_live_reload(sidecar_factory, emulator, tmp_path):
    sc = sidecar_factory({"config_poll_seconds": 0.2})
    token = mint(emulator)
    verify(sc, token)
    assert sc.metric("authsidecar_decision_log_lines_total") == 0
    path = tmp_path / "live.jsonl"
    sc.config_path.write_text(yaml.safe_dump({**sc.settings, "decision_log": {"enabled": True, "path": str(path)}}))
    wait_until(lambda: sc.metric("authsidecar_config_reloads_total", result="ok") == 1, timeout=10, what="reload")
    assert verify(sc, token).source == pb.SOURCE_CACHE
    assert [d["method"] for d in decisions(path)] == ["VerifyToken"]
