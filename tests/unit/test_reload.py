"""Live reload, piece by piece: which changes apply live, TokenVerifier.reload (issuers added, changed,
removed), cache resizing, the decision log's sampling and limit — no sockets (the e2e file runs it whole)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging

import pytest
from test_tokens import AUD, URL, Upstream, clocks, token, upstream  # noqa: F401 (fixtures)

from sidecar.api.rpc import InFlight
from sidecar.config import (
    CircuitSettings,
    DecisionLogSettings,
    IssuerSettings,
    JwksSettings,
    Limits,
    Settings,
    load,
    pointed_at_emulator,
)
from sidecar.config.memory_budget import CACHES
from sidecar.config.settings import budgeted_caches, declared
from sidecar.core.shared.caches import TtlLru
from sidecar.core.shared.outcomes import Reason, Source
from sidecar.core.tokens.verifier import TokenVerifier
from sidecar.observability import decision_log, metrics
from sidecar.runtime.assembly import Sidecar
from sidecar.runtime.reload import ConfigReloader, changed_paths, is_live, split_changes
from sidecar.runtime.server import Server


def test_live_and_restart_only_paths():
    assert is_live("issuers") and is_live("limits.max_in_flight") and is_live("ext_authz.rules")
    assert is_live("decision_log.path") and is_live("jwks.verified_cache_max_entries")
    for path in (
        "listen",
        "tls.cert_file",
        "ops_listen",
        "ext_authz.enabled",
        "platform.base_url",
        "platform.sse.enabled",
        "jwks.timeout_seconds",
        "emulator.mode",
    ):
        assert not is_live(path), path


def test_live_and_budget_cost_come_from_the_settings_fields():
    # Declared once, on the field: reload's live set and the memory plan's caches both read it, so a
    # new cache field can't be budgeted without also being live, or be forgotten by either.
    budgeted = budgeted_caches()
    assert (
        {c.field for c in CACHES}
        == set(budgeted)
        == {
            "jwks.verified_cache_max_entries",
            "platform.session_cache_max_entries",
            "platform.consumed_tokens_max_entries",
            "challenges.consumed_tokens_max_entries",
            "authy.consumed_codes_max_entries",
            "identity.session_map_max_entries",
            "identity.logout_revocations_max_entries",
        }
    )
    # a logout revocation is never evicted: resizing the store under held revocations needs a restart
    assert {p for p in budgeted if not is_live(p)} == {"identity.logout_revocations_max_entries"}
    max_entries = {path for path in _leaf_paths(Settings()) if path.endswith("_max_entries")}
    zero_default = {p for p in max_entries if _get(Settings(), p) == 0}
    assert zero_default == set(budgeted), "a *_max_entries sized from the budget must declare its cost"
    assert dict(declared())["ext_authz.enabled"] == {"live": False}


def _leaf_paths(obj, prefix=""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _leaf_paths(value, path + ".")
        else:
            yield path


def _get(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def test_split_changes_keeps_the_running_value_of_restart_only_fields():
    running = Settings()
    new = dataclasses.replace(
        running,
        listen=["127.0.0.1:1"],
        log_level="debug",
        limits=Limits(max_in_flight=5),
        tls=dataclasses.replace(running.tls, cert_file="/x"),
        circuit=CircuitSettings(failure_threshold=2),
    )
    applied, kept = split_changes(running, new)
    assert sorted(kept) == ["listen", "tls.cert_file"]
    assert applied.listen == running.listen and applied.tls == running.tls
    assert (applied.log_level, applied.limits.max_in_flight, applied.circuit.failure_threshold) == ("debug", 5, 2)
    assert changed_paths(running, applied) == ["circuit.failure_threshold", "limits.max_in_flight", "log_level"]


def test_resize_drops_least_recently_used_first():
    cache: TtlLru[str, int] = TtlLru(4)
    for i, key in enumerate("abcd"):
        cache.put(key, i, 60)
    cache.get("a")  # a is now the most recently used
    cache.resize(2)
    assert [k for k in "abcd" if k in cache] == ["a", "d"]
    cache.resize(10)
    cache.put("e", 5, 60)
    assert len(cache) == 3


def _verifier(upstream: Upstream, clocks, names: list[str]) -> TokenVerifier:  # noqa: F811 (the fixtures imported above)
    issuers = [IssuerSettings(issuer=f"{URL}/{n}", algorithms=["ES256"], audiences=[AUD]) for n in names]
    return TokenVerifier(
        issuers,
        {i.issuer: upstream.fetch(i.issuer.rsplit("/", 1)[1]) for i in issuers},
        JwksSettings(verified_cache_max_entries=1000),
        clock=clocks.mono,
        wall_clock=clocks.wall,
        make_fetch=lambda i: upstream.fetch(i.issuer.rsplit("/", 1)[1]),
    )


def _sections(names: list[str], **issuer_fields) -> tuple[list[IssuerSettings], JwksSettings]:
    """What the assembly hands TokenVerifier.reload: the issuers and the jwks section."""
    fields = {"algorithms": ["ES256"], "audiences": [AUD], **issuer_fields}
    return (
        [IssuerSettings(issuer=f"{URL}/{n}", **fields) for n in names],
        JwksSettings(verified_cache_max_entries=1000),
    )  # load() sizes it; Settings() leaves 0


async def test_issuers_added_and_removed_live(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    upstream.add("second", "ES256")
    v = _verifier(upstream, clocks, ["main"])
    first, second = token(upstream, clocks, "main"), token(upstream, clocks, "second")
    assert (await v.verify(first, None, [])).verdict.valid
    assert (await v.verify(second, None, [])).verdict.reason is Reason.UNTRUSTED_ISSUER
    v.reload(*_sections(["main", "second"]))
    assert (await v.verify(second, None, [])).verdict.valid  # fetched on first use
    assert (await v.verify(first, None, [])).verdict.source is Source.CACHE  # main's cache untouched
    assert v.readiness()[0]
    v.reload(*_sections(["second"]))
    answer = await v.verify(first, None, [])  # was in the verified cache
    assert answer.verdict.reason is Reason.UNTRUSTED_ISSUER
    assert set(v.keys) == {f"{URL}/second"}


async def test_a_changed_issuer_keeps_its_keys_but_not_its_cached_verifications(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v = _verifier(upstream, clocks, ["main"])
    tok = token(upstream, clocks, "main")
    assert (await v.verify(tok, None, [])).verdict.valid
    fetches = upstream.calls["main"]
    v.reload(*_sections(["main"], audiences=["someone-else"]))
    answer = await v.verify(tok, None, [])
    assert answer.verdict.reason is Reason.BAD_AUDIENCE and answer.verdict.source is not Source.CACHE
    assert upstream.calls["main"] == fetches  # no refetch: same JWKS


async def test_an_issuer_added_live_does_not_make_the_verifier_unready(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v = _verifier(upstream, clocks, ["main"])
    await v.keys[f"{URL}/main"].refresh()
    v.reload(*_sections(["main", "never"]))  # its JWKS is never fetched here
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


# --- issue 24 row 11: a reload racing an in-flight verification ---------------------------------


def _held_verifier(upstream: Upstream, clocks) -> tuple[TokenVerifier, asyncio.Event, asyncio.Event]:  # noqa: F811 (the fixtures imported above)
    """A verifier whose first JWKS fetch waits for `gate` (set `entered` when it starts)."""
    gate, entered = asyncio.Event(), asyncio.Event()
    inner = upstream.fetch("main")

    async def held():
        entered.set()
        await gate.wait()
        return await inner()

    name = f"{URL}/main"
    return (
        TokenVerifier(
            [IssuerSettings(issuer=name, algorithms=["ES256"], audiences=[AUD])],
            {name: held},
            JwksSettings(verified_cache_max_entries=1000),
            clock=clocks.mono,
            wall_clock=clocks.wall,
            make_fetch=lambda i: upstream.fetch("main"),
        ),
        gate,
        entered,
    )


async def test_row11_audiences_changed_during_a_jwks_fetch_are_not_answered_or_cached_stale(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v, gate, entered = _held_verifier(upstream, clocks)
    tok = token(upstream, clocks, "main")
    call = asyncio.create_task(v.verify(tok, None, []))
    await asyncio.wait_for(entered.wait(), 10)
    v.reload(*_sections(["main"], audiences=["other-api"]))  # the token's audience is dropped mid-fetch
    gate.set()
    answer = await asyncio.wait_for(call, 10)
    assert answer.verdict.reason is Reason.BAD_AUDIENCE  # was valid, and then valid x3 from CACHE
    for _ in range(3):
        later = await v.verify(tok, None, [])
        assert later.verdict.reason is Reason.BAD_AUDIENCE and later.verdict.source is not Source.CACHE
    v.reload(*_sections(["main"]))  # and back: valid under the rules in force
    assert (await v.verify(tok, None, [])).verdict.valid


async def test_row11_an_issuer_removed_during_a_jwks_fetch_is_untrusted_for_the_call_in_flight(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v, gate, entered = _held_verifier(upstream, clocks)
    tok = token(upstream, clocks, "main")
    calls = [asyncio.create_task(v.verify(tok, None, [])) for _ in range(3)]  # sharing one fetch
    await asyncio.wait_for(entered.wait(), 10)
    v.reload([], JwksSettings(verified_cache_max_entries=1000))
    gate.set()
    for answer in await asyncio.wait_for(asyncio.gather(*calls), 10):
        assert answer.verdict.reason is Reason.UNTRUSTED_ISSUER
    assert (await v.verify(tok, None, [])).verdict.reason is Reason.UNTRUSTED_ISSUER
    assert len(v._verified) == 0


def test_an_issuer_removed_live_takes_accept_missing_iss_with_it(upstream, clocks):  # noqa: F811 (the fixtures imported above)
    v = _verifier(upstream, clocks, ["main"])
    v.reload(*_sections(["main"], accept_missing_iss=True))
    assert v._missing_iss is v.issuers[f"{URL}/main"]
    v.reload(*_sections(["second"]))
    assert v._missing_iss is None  # was the removed issuer: its keys gone, a KeyError for the next call


# --- applying a reload is all or nothing ------------------------------------------------------


async def test_an_apply_that_fails_part_way_changes_nothing():
    running = pointed_at_emulator(load(env={}), "http://127.0.0.1:1")
    server = Server(running)
    server.sidecar = Sidecar(running)
    server.settings = server.sidecar.settings
    lim = running.limits
    server.inflight = InFlight(lim.max_in_flight, max_streams=lim.max_streams, max_items=lim.verify_stream_items_max)
    level = logging.getLogger().level
    try:
        new = dataclasses.replace(
            running,
            log_level="debug",
            issuers=running.issuers[:1],
            limits=dataclasses.replace(running.limits, max_in_flight=7, max_token_bytes=64, verify_stream_items_max=9),
        )

        def broken(*sections):  # a component late in the order that cannot take the new settings
            raise RuntimeError("cannot take it")

        server.sidecar.components["accounts"].reload = broken
        with pytest.raises(RuntimeError):
            server.apply(new)
        tokens = server.sidecar.components["tokens"]
        assert set(tokens.issuers) == {i.issuer for i in running.issuers}  # the removed issuer is back
        assert server.inflight.limit == running.limits.max_in_flight
        assert server.inflight.items.limit == running.limits.verify_stream_items_max
        assert server.sidecar.settings.limits.max_token_bytes == running.limits.max_token_bytes
        assert server.sidecar.settings.log_level == running.log_level
        assert logging.getLogger().level == logging.getLevelName(running.log_level.upper())
        del server.sidecar.components["accounts"].reload  # the component recovers
        server.apply(new)
        assert server.inflight.limit == 7 and set(tokens.issuers) == {running.issuers[0].issuer}
        assert server.inflight.items.limit == 9
    finally:
        logging.getLogger().setLevel(level)
        await server.sidecar.close()


async def test_the_reload_task_survives_any_exception_and_applies_a_later_good_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("log_level: info\n")
    applied: list[str] = []
    surprises = iter([RuntimeError("a bug"), None])

    def adjust(settings: Settings) -> Settings:  # runs in the worker thread, as the emulator's URLs do
        surprise = next(surprises, None)
        if surprise is not None:
            raise surprise
        return settings

    def errors() -> float:
        return metrics.CONFIG_RELOADS_TOTAL.labels("error")._value.get()

    reloader = ConfigReloader(
        path, Settings(config_poll_seconds=0.1), lambda s: applied.append(s.log_level), adjust=adjust
    )
    task = asyncio.create_task(reloader.run())
    try:
        before = errors()
        path.write_text("log_level: debug\n")  # the adjust step blows up: logged, counted
        await _until(lambda: errors() > before)
        assert not task.done() and applied == []
        path.write_text("log_level: warning\n")  # the next change is still picked up
        await _until(lambda: applied == ["warning"])
    finally:
        task.cancel()


async def _until(predicate, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
