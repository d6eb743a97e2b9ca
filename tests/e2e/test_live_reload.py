"""Live configuration reload against a real sidecar process: SIGHUP and file changes (ConfigMap-style
symlink swaps included) change issuers, rules and limits without a restart; a broken config is refused
and the running one keeps serving; caches and the event stream survive."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import grpc
import yaml
from test_sessions import FAST_SSE, new_session, stream_connected
from test_sessions import verify as verify_session
from test_verify_token import issuer_config, mint, new_issuer, verify

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until

EVENTS_ROUTE = "GET /v2/backend/events"
POLL = {"config_poll_seconds": 0.2}


def rewrite(sc, **changes) -> dict:
    """Write the sidecar's config file with `changes` applied at the top level; the new settings."""
    settings = {**sc.settings, **changes}
    sc.config_path.write_text(yaml.safe_dump(settings))
    return settings


def reloads(sc, result: str = "ok") -> float:
    return sc.metric("authsidecar_config_reloads_total", result=result)


def log_lines(sc) -> list[dict]:
    lines = []
    for line in sc.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line))
    return lines


def test_an_issuer_added_live_verifies_and_one_removed_is_refused_at_once(sidecar_factory, emulator):
    first, second = new_issuer(emulator), new_issuer(emulator)
    sc = sidecar_factory({**POLL, "issuers": [issuer_config(emulator, first)]})
    old_token, new_token = mint(emulator, first), mint(emulator, second)
    assert verify(sc, old_token).valid
    assert verify(sc, new_token).reason == pb.REASON_UNTRUSTED_ISSUER

    rewrite(sc, issuers=[issuer_config(emulator, first), issuer_config(emulator, second)])
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="reload after the file changed")
    wait_until(lambda: verify(sc, new_token).valid, timeout=10, what="the added issuer's token verifies")
    assert verify(sc, old_token).valid and verify(sc, old_token).source == pb.SOURCE_CACHE  # its cache stayed
    assert sc.health_status() == "SERVING"

    rewrite(sc, issuers=[issuer_config(emulator, second)])
    wait_until(lambda: reloads(sc) == 2, timeout=10, what="second reload")
    answer = verify(sc, old_token)  # cached as valid a moment ago: refused now
    assert not answer.valid and answer.reason == pb.REASON_UNTRUSTED_ISSUER
    assert verify(sc, new_token).valid
    assert sc.metric("authsidecar_jwks_keys", issuer=issuer_config(emulator, first)["issuer"]) == 0


def test_a_broken_config_is_refused_naming_every_bad_field_and_the_old_one_serves(sidecar_factory, emulator):
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    rewrite(sc, limits={"max_in_flight": 0, "max_token_bytes": "lots"}, log_level="loud")
    wait_until(lambda: reloads(sc, "error") == 1, timeout=10, what="the refused reload")
    refused = [e for e in log_lines(sc) if e.get("logger") == "authsidecar.reload" and e["level"] == "error"]
    assert refused, sc.log()
    error = refused[-1]["error"]
    for bad in ("limits.max_in_flight", "limits.max_token_bytes", "log_level"):
        assert bad in error
    assert verify(sc, token).valid  # the running configuration keeps serving
    assert reloads(sc) == 0 and sc.health_status() == "SERVING"
    # The same broken content is not retried every poll; fixing it applies.
    rewrite(sc, limits={"max_token_bytes": 64})
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="reload of the fixed file")
    assert reloads(sc, "error") == 1
    too_long = sc.stub.VerifyToken.with_call  # the new limit is enforced at the edge at once
    try:
        too_long(pb.VerifyTokenRequest(token=token), timeout=5)
        raise AssertionError("a token over the reloaded max_token_bytes was accepted")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_sighup_reloads_and_restart_only_settings_are_named_and_kept(sidecar_factory, emulator):
    sc = sidecar_factory({"config_poll_seconds": 0})  # no polling: only the signal reloads
    settings = {
        **sc.settings,
        "ops_listen": "127.0.0.1:1",
        "log_level": "debug",
        "platform": {**sc.settings["platform"], "timeout_seconds": 9},
    }
    sc.config_path.write_text(yaml.safe_dump(settings))
    sc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="reload on SIGHUP")
    kept = [e for e in log_lines(sc) if e.get("restart_needed")]
    assert kept and set(kept[-1]["restart_needed"].split(", ")) == {"ops_listen", "platform.timeout_seconds"}
    done = [e for e in log_lines(sc) if e.get("msg") == "configuration reloaded"][-1]
    assert done["changed"] == "log_level"
    assert sc.metrics()  # the ops port did not move
    assert sc.proc.poll() is None


def test_a_configmap_symlink_swap_reloads(sidecar_factory, emulator, tmp_path):
    first, second = new_issuer(emulator), new_issuer(emulator)
    sc = sidecar_factory({**POLL, "issuers": [issuer_config(emulator, first)]})
    # Kubernetes' layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/ (swapped atomically).
    volume = tmp_path / "configmap"
    volume.mkdir()
    version_one = volume / "..2026_01"
    version_one.mkdir()
    (version_one / "config.yaml").write_text(sc.config_path.read_text())
    (volume / "..data").symlink_to(version_one.name)
    link = sc.config_path.with_suffix(".link")
    link.symlink_to(volume / "..data" / "config.yaml")
    os.replace(link, sc.config_path)  # same content, now behind the symlinks: nothing to reload
    version_two = volume / "..2026_02"
    version_two.mkdir()
    settings = {**sc.settings, "issuers": [issuer_config(emulator, second)]}
    (version_two / "config.yaml").write_text(yaml.safe_dump(settings))
    swap = volume / "..data_tmp"
    swap.symlink_to(version_two.name)
    os.replace(swap, volume / "..data")  # the kubelet's atomic swap
    token = mint(emulator, second)
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="reload after the symlink swap")
    wait_until(lambda: verify(sc, token).valid, timeout=10, what="the swapped-in issuer verifies")
    done = [e for e in log_lines(sc) if e.get("msg") == "configuration reloaded"][-1]
    assert Path(done["resolved"]).parent.name == "..2026_02"


def test_the_event_stream_and_caches_survive_a_reload(sidecar_factory, emulator):
    sc = sidecar_factory({**FAST_SSE, **POLL})
    wait_until(lambda: stream_connected(sc), timeout=10, what="stream connected")
    session = new_session(emulator)
    token = mint(emulator)
    assert verify_session(sc, session).valid and verify(sc, token).valid
    connections = emulator.counters().get(EVENTS_ROUTE, 0)
    reconnects = sc.metric("authsidecar_sse_reconnects_total")
    hits = sc.metric("authsidecar_token_cache_total", result="hit")
    rewrite(
        sc,
        platform={**sc.settings["platform"], "session_cache_max_entries": 5000},
        jwks={"verified_cache_max_entries": 5000},
        circuit={"failure_threshold": 3},
        log_level="warning",
    )
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="reload")
    answer = verify_session(sc, session)
    assert answer.valid and answer.source == pb.SOURCE_CACHE
    assert verify(sc, token).source == pb.SOURCE_CACHE
    assert sc.metric("authsidecar_token_cache_total", result="hit") == hits + 1
    assert emulator.counters().get(EVENTS_ROUTE, 0) == connections  # no new SSE connection
    assert sc.metric("authsidecar_sse_reconnects_total") == reconnects
    assert stream_connected(sc)
