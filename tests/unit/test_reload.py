"""Live reload, piece by piece: which changes apply live, TokenVerifier.reload (issuers added, changed,
removed), cache resizing, the decision log's sampling and limit — no sockets (the e2e file runs it whole)."""

from __future__ import annotations

import dataclasses
import io

from test_tokens import AUD, URL, Upstream, clocks, token, upstream  # noqa: F401 (fixtures)

from sidecar import decision_log, metrics
from sidecar.config import CircuitSettings, DecisionLogSettings, IssuerSettings, JwksSettings, Limits, Settings
from sidecar.core.caches import TtlLru
from sidecar.core.outcomes import Reason, Source
from sidecar.core.tokens import TokenVerifier
from sidecar.reload import changed_paths, is_live, split_changes


def test_live_and_restart_only_paths():
    assert is_live("issuers") and is_live("limits.max_in_flight") and is_live("ext_authz.rules")
    assert is_live("decision_log.path") and is_live("jwks.verified_cache_max_entries")
    for path in ("listen", "tls.cert_file", "ops_listen", "ext_authz.enabled", "platform.base_url",
                 "platform.sse.enabled", "jwks.timeout_seconds", "emulator.mode"):
        assert not is_live(path), path


def test_split_changes_keeps_the_running_value_of_restart_only_fields():
    running = Settings()
    new = dataclasses.replace(running, listen=["127.0.0.1:1"], log_level="debug",
                              limits=Limits(max_in_flight=5), tls=dataclasses.replace(running.tls, cert_file="/x"),
                              circuit=CircuitSettings(failure_threshold=2))
    applied, kept = split_changes(running, new)
    assert sorted(kept) == ["listen", "tls.cert_file"]
    assert applied.listen == running.listen and applied.tls == running.tls
    assert (applied.log_level, applied.limits.max_in_flight, applied.circuit.failure_threshold) == ("debug", 5, 2)
    assert changed_paths(running, applied) == ["circuit.failure_threshold", "limits.max_in_flight", "log_level"]


def test_resize_drops_least_recently_used_first():
    cache: TtlLru[str, int] = TtlLru(4)
    for i, key in enumerate("abcd"):
        cache.put(key, i, 60)
    cache.get("a")                      # a is now the most recently used
    cache.resize(2)
    assert [k for k in "abcd" if k in cache] == ["a", "d"]
    cache.resize(10)
    cache.put("e", 5, 60)
    assert len(cache) == 3


def _verifier(upstream: Upstream, clocks, names: list[str]) -> TokenVerifier:  # noqa: F811 (the fixtures imported above)
    issuers = [IssuerSettings(issuer=f"{URL}/{n}", algorithms=["ES256"], audiences=[AUD]) for n in names]
    return TokenVerifier(issuers, {i.issuer: upstream.fetch(i.issuer.rsplit("/", 1)[1]) for i in issuers},
                         JwksSettings(verified_cache_max_entries=1000), clock=clocks.mono, wall_clock=clocks.wall,
                         make_fetch=lambda i: upstream.fetch(i.issuer.rsplit("/", 1)[1]))


def _settings(names: list[str], **issuer_fields) -> Settings:
    fields = {"algorithms": ["ES256"], "audiences": [AUD], **issuer_fields}
    return Settings(issuers=[IssuerSettings(issuer=f"{URL}/{n}", **fields) for n in names],
                    jwks=JwksSettings(verified_cache_max_entries=1000))   # load() sizes it; Settings() leaves 0


async def test_issuers_added_and_removed_live(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    upstream.add("second", "ES256")
    v = _verifier(upstream, clocks, ["main"])
    first, second = token(upstream, clocks, "main"), token(upstream, clocks, "second")
    assert (await v.verify(first, None, [])).verdict.valid
    assert (await v.verify(second, None, [])).verdict.reason is Reason.UNTRUSTED_ISSUER
    v.reload(_settings(["main", "second"]))
    assert (await v.verify(second, None, [])).verdict.valid          # fetched on first use
    assert (await v.verify(first, None, [])).verdict.source is Source.CACHE   # main's cache untouched
    assert v.readiness()[0]
    v.reload(_settings(["second"]))
    answer = await v.verify(first, None, [])                           # was in the verified cache
    assert answer.verdict.reason is Reason.UNTRUSTED_ISSUER
    assert set(v.keys) == {f"{URL}/second"}


async def test_a_changed_issuer_keeps_its_keys_but_not_its_cached_verifications(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v = _verifier(upstream, clocks, ["main"])
    tok = token(upstream, clocks, "main")
    assert (await v.verify(tok, None, [])).verdict.valid
    fetches = upstream.calls["main"]
    v.reload(_settings(["main"], audiences=["someone-else"]))
    answer = await v.verify(tok, None, [])
    assert answer.verdict.reason is Reason.BAD_AUDIENCE and answer.verdict.source is not Source.CACHE
    assert upstream.calls["main"] == fetches                           # no refetch: same JWKS


async def test_an_issuer_added_live_does_not_make_the_verifier_unready(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v = _verifier(upstream, clocks, ["main"])
    await v.keys[f"{URL}/main"].refresh()
    v.reload(_settings(["main", "never"]))                             # its JWKS is never fetched here
    assert v.readiness()[0]


def test_decision_log_samples_limits_and_reports(monkeypatch):
    out = io.StringIO()
    log = decision_log.DecisionLog()
    log.configure(DecisionLogSettings(enabled=True, max_per_second=3))
    log._out = out
    dropped = metrics.DECISION_LOG_DROPPED_TOTAL.labels("rate_limit")._value.get()
    for _ in range(10):
        log.record("VerifyToken", "valid", "none", 0.0, issuer="https://i", subject="user-1")
    assert out.getvalue().count("\n") == 3
    assert metrics.DECISION_LOG_DROPPED_TOTAL.labels("rate_limit")._value.get() == dropped + 7
    log.report_dropped()
    assert '"decisions_dropped":7' in out.getvalue() and "user-1" not in out.getvalue()
    log.configure(DecisionLogSettings(enabled=True, sample_ratio=0.0, max_per_second=1000))
    log.record("VerifyToken", "valid", "none", 0.0)
    assert out.getvalue().count("\n") == 4
