"""Issue 24 rows 7-11 against a real sidecar process with live reload: a config file written by an
attacker (an alias bomb, a huge list, a FIFO, /dev/zero) is refused while gRPC and /metrics keep
answering and RSS stays bounded, the log names the problem and a later good file is applied; a
reload racing an in-flight VerifyToken (a JWKS fetch held by the emulator) never answers or caches
under the replaced issuer rules; a file invalid only to validation is refused as such."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import yaml
from test_live_reload import POLL, log_lines, reloads, rewrite
from test_verify_token import issuer_config, mint, new_issuer, verify

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until

ANSWER_WITHIN = 2.0  # seconds a probe call may take while a hostile reload is handled
RSS_GROWTH_MB = 100  # the alias bomb took RSS from 72 to 403 MB; /dev/zero to 1.5 GB


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Probe:
    """From a thread: a unary call and a /metrics scrape, over and over, each bounded by
    ANSWER_WITHIN; the slowest of each, failures, and the peak RSS of the sidecar."""

    def __init__(self, sc, token: str) -> None:
        self.sc, self.token = sc, token
        self.slowest = {"grpc": 0.0, "metrics": 0.0}
        self.failures: list[str] = []
        self.rounds = 0
        self.peak_rss = rss_mb(sc.proc.pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _timed(self, what: str, call) -> None:
        started = time.monotonic()
        try:
            call()
        except (grpc.RpcError, httpx.HTTPError) as exc:
            self.failures.append(f"{what}: {type(exc).__name__}")
        self.slowest[what] = max(self.slowest[what], time.monotonic() - started)

    def _run(self) -> None:
        with httpx.Client(timeout=ANSWER_WITHIN) as http:
            while not self._stop.is_set():
                self._timed(
                    "grpc",
                    lambda: self.sc.stub.VerifyToken(pb.VerifyTokenRequest(token=self.token), timeout=ANSWER_WITHIN),
                )
                self._timed("metrics", lambda: http.get(f"{self.sc.ops_url}/metrics").raise_for_status())
                self.peak_rss = max(self.peak_rss, rss_mb(self.sc.proc.pid))
                self.rounds += 1
                self._stop.wait(0.1)

    def assert_answered(self, baseline_rss: float) -> None:
        assert self.rounds >= 3, (self.rounds, self.slowest, self.failures)
        assert not self.failures, self.failures
        assert max(self.slowest.values()) < ANSWER_WITHIN, self.slowest
        assert self.peak_rss < baseline_rss + RSS_GROWTH_MB, (baseline_rss, self.peak_rss)


def refusals(sc) -> list[str]:
    return [
        e.get("error", "") + e.get("msg", "")
        for e in log_lines(sc)
        if e.get("logger") == "authsidecar.reload" and e.get("level") == "error"
    ]


def replace_with(sc, make) -> None:
    """Swap the config path for what `make(tmp_path)` creates (atomically, as a ConfigMap swap does)."""
    tmp = sc.config_path.with_name(sc.config_path.name + ".new")
    make(tmp)
    os.replace(tmp, sc.config_path)


def hostile_reload(sc, token: str, swap, problem: str) -> Probe:
    """Swap in a hostile config; wait (probing) until it is refused and logged naming `problem`;
    then a good file (log_level: debug) must be applied."""
    baseline = rss_mb(sc.proc.pid)
    errors = reloads(sc, "error")
    with Probe(sc, token) as probe:
        swap()
        wait_until(lambda: reloads(sc, "error") > errors, timeout=60, step=0.1, what="the hostile file refused")
        time.sleep(1)  # keep probing a little after the refusal (a poll or two of the same content)
    print(f"probe: {probe.rounds} rounds, slowest {probe.slowest}, RSS {baseline:.0f} -> peak {probe.peak_rss:.0f} MB")
    probe.assert_answered(baseline)
    assert any(problem in line for line in refusals(sc)), refusals(sc)[-3:]
    assert sc.proc.poll() is None and sc.health_status() == "SERVING"
    # The reload task survived: a good file is applied.
    replace_with(sc, lambda tmp: tmp.write_text(yaml.safe_dump({**sc.settings, "log_level": "debug"})))
    wait_until(lambda: reloads(sc) >= 1, timeout=30, step=0.1, what="the good file applied after the hostile one")
    done = [e for e in log_lines(sc) if e.get("msg") == "configuration reloaded"]
    assert done and "log_level" in done[-1]["changed"]
    return probe


def alias_bomb(levels: int = 8) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nlog_level: *a{levels}\n"


def test_row07_yaml_alias_bomb_reload_keeps_serving(sidecar_factory, emulator):
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    bomb = alias_bomb(8)
    assert len(bomb) < 500  # the issue's 428-byte file: 9^8 = 43 million strings when expanded
    hostile_reload(sc, token, lambda: replace_with(sc, lambda tmp: tmp.write_text(bomb)), "each alias counted")
    assert "lol" not in sc.log_path.read_text()  # the value is never rendered


def test_row08_a_200k_item_list_reload_keeps_serving(sidecar_factory, emulator):
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    huge = yaml.safe_dump({**sc.settings}) + "listen_padding: [" + ",".join(["1"] * 200_000) + "]\n"
    assert 350_000 < len(huge) < 1_048_576
    hostile_reload(sc, token, lambda: replace_with(sc, lambda tmp: tmp.write_text(huge)), "nodes")


def test_row09_a_fifo_at_the_config_path_keeps_serving(sidecar_factory, emulator):
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    hostile_reload(sc, token, lambda: replace_with(sc, os.mkfifo), "a FIFO")
    # SIGHUP while it is a FIFO again: refused, not a hang.
    errors = reloads(sc, "error")
    replace_with(sc, os.mkfifo)
    with Probe(sc, token) as probe:
        sc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: reloads(sc, "error") > errors, timeout=30, step=0.1, what="the FIFO refused")
        time.sleep(1)
    probe.assert_answered(rss_mb(sc.proc.pid))


def test_row10_dev_zero_at_the_config_path_is_refused_and_a_later_good_config_applies(sidecar_factory, emulator):
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    hostile_reload(sc, token, lambda: replace_with(sc, lambda tmp: tmp.symlink_to("/dev/zero")), "a character device")


def test_a_file_invalid_only_to_validation_is_refused_by_validation(sidecar_factory, emulator):
    """Every bad value here would be taken by `apply` without an error: only validation refuses them."""
    sc = sidecar_factory(POLL)
    token = mint(emulator)
    assert verify(sc, token).valid
    bad = [{**sc.settings["issuers"][0], "leeway_seconds": -5}, *sc.settings["issuers"][1:]]
    rewrite(sc, limits={"max_in_flight": 0}, issuers=bad, decision_log={"sample_ratio": 2})
    wait_until(lambda: reloads(sc, "error") == 1, timeout=20, what="the refused reload")
    entries = [e for e in log_lines(sc) if e.get("logger") == "authsidecar.reload" and e["level"] == "error"]
    assert [e["msg"].split(":")[0] for e in entries] == ["invalid configuration"]  # not "could not be applied"
    for field in ("limits.max_in_flight", "issuers[0].leeway_seconds", "decision_log.sample_ratio"):
        assert field in entries[-1]["error"]
    assert verify(sc, token).valid and reloads(sc) == 0
    # The same values, valid, apply (so it was validation, not apply, that refused them).
    rewrite(sc, limits={"max_in_flight": 1000}, decision_log={"sample_ratio": 1})
    wait_until(lambda: reloads(sc) == 1, timeout=20, what="the valid file applied")


def _held_verification(sc, emulator, name: str):
    """A VerifyToken whose JWKS fetch the emulator holds (a rotated key: the sidecar must fetch);
    returns (the future answer, the token) once the fetch has reached the emulator."""
    emulator.http.post(f"/_control/jwks/issuers/{name}/rotate", json={}).raise_for_status()
    token = mint(emulator, name)
    jwks_requests = lambda: sum(n for route, n in emulator.counters().items() if "/issuers/" in route)  # noqa: E731
    before = jwks_requests()
    emulator.faults(latency_seconds=6, path_prefix=f"/issuers/{name}")
    pool = ThreadPoolExecutor(1)
    answer = pool.submit(verify, sc, token)
    pool.shutdown(wait=False)
    wait_until(lambda: jwks_requests() > before, timeout=10, what="the JWKS fetch held at the emulator")
    return answer, token


def test_row11_audiences_changed_mid_fetch_are_not_answered_or_cached_stale(sidecar_factory, emulator):
    name = new_issuer(emulator)
    sc = sidecar_factory({**POLL, "jwks": {"timeout_seconds": 20}, "issuers": [issuer_config(emulator, name)]})
    answer, token = _held_verification(sc, emulator, name)
    rewrite(sc, issuers=[issuer_config(emulator, name, audiences=["other-api"])])
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="the reload during the held fetch")
    assert not answer.done()  # the race under test: the reload landed while the fetch was held
    first = answer.result(timeout=30)
    emulator.faults(reset=True)
    assert not first.valid and first.reason == pb.REASON_BAD_AUDIENCE, first
    for _ in range(3):  # was: valid x3 from CACHE for the dropped audience
        later = verify(sc, token)
        assert not later.valid and later.reason == pb.REASON_BAD_AUDIENCE and later.source != pb.SOURCE_CACHE


def test_row11_an_issuer_removed_mid_fetch_is_untrusted_for_the_call_in_flight(sidecar_factory, emulator):
    name, other = new_issuer(emulator), new_issuer(emulator)
    sc = sidecar_factory(
        {
            **POLL,
            "jwks": {"timeout_seconds": 20},
            "issuers": [issuer_config(emulator, name), issuer_config(emulator, other)],
        }
    )
    answer, token = _held_verification(sc, emulator, name)
    rewrite(sc, issuers=[issuer_config(emulator, other)])
    wait_until(lambda: reloads(sc) == 1, timeout=10, what="the reload during the held fetch")
    assert not answer.done()
    first = answer.result(timeout=30)
    emulator.faults(reset=True)
    assert not first.valid and first.reason == pb.REASON_UNTRUSTED_ISSUER, first  # README: "from that moment"
    later = verify(sc, token)
    assert later.reason == pb.REASON_UNTRUSTED_ISSUER and later.source != pb.SOURCE_CACHE
