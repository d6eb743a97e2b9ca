"""Account core over a fake identity service: revocation on logout (of the access tokens that came through,
and of a session id when a wire names one), refresh rotation, pass-through errors."""

from __future__ import annotations

import pytest

from sidecar import config as cfg
from sidecar.core.accounts.flows import AccountFlows
from sidecar.core.accounts.logout_revocations import LogoutRevocations
from sidecar.core.accounts.records import AccountSession, LoginResult, Me, Tokens
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.hashing import token_key, token_revocation_id
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.runtime.assembly import Sidecar


class FakeIdentity:
    """Token answers without a session id, as both real wires (InAI's TokenPair, seed 004) give them;
    `names_sessions` makes it a service that does name one."""

    def __init__(self, names_sessions: bool = False) -> None:
        self.sid = "sid-1" if names_sessions else ""
        self.calls: list[str] = []
        self.fail: UpstreamError | None = None

    async def login(self, email, password):
        return LoginResult(tokens=Tokens("at-1", "rt-1", 900, self.sid))

    async def complete_mfa(self, mfa_token, code):
        return Tokens("at-2", "rt-2", 900)

    async def refresh(self, refresh_token):
        return Tokens("at-3", "rt-3", 900)

    async def logout(self, refresh_token):
        self.calls.append("logout")
        if self.fail:
            raise self.fail

    async def me(self, access_token):
        return Me("u1")

    async def list_sessions(self, access_token):
        return [AccountSession("sid-1", current=True)]

    async def logout_session(self, access_token, session_id):
        self.calls.append("logout_session")
        if self.fail:
            raise self.fail

    async def health(self):
        return UpstreamHealth("identity", True)

    async def aclose(self):
        return None


class RecordedRevocations(LogoutRevocations):
    """The real store, with the ids it was asked to revoke listed in order."""

    def __init__(self, max_entries: int = 1000) -> None:
        super().__init__(max_entries)
        self.ids: list[str] = []

    async def revoke(self, entries):
        await super().revoke(entries)
        self.ids.extend(i for i, _ in entries)


def make(**kwargs):
    store = RecordedRevocations()
    upstream = FakeIdentity(**kwargs)
    return AccountFlows(upstream, store), upstream, store.ids


def ids(*access_tokens: str) -> list[str]:
    return [token_revocation_id(token_key(t)) for t in access_tokens]


async def test_logout_revokes_the_access_token_issued_with_that_refresh_token():
    flows, upstream, revoked = make()
    await flows.login("a@example.com", "pw")
    assert await flows.logout("rt-1") == ""
    assert revoked == ids("at-1") and upstream.calls == ["logout"]


async def test_logout_also_revokes_the_session_when_the_wire_names_it():
    flows, upstream, revoked = make(names_sessions=True)
    await flows.login("a@example.com", "pw")
    assert await flows.logout("rt-1") == "sid-1"
    assert revoked == ["sid-1", *ids("at-1")]


async def test_the_chain_follows_refresh_rotation():
    flows, upstream, revoked = make(names_sessions=True)
    await flows.login("a@example.com", "pw")
    rotated = await flows.refresh("rt-1")
    assert rotated.session_id == "sid-1"
    await flows.logout("rt-3")
    assert revoked == ["sid-1", *ids("at-1", "at-3")]


async def test_a_rotated_away_refresh_token_revokes_nothing_here():
    flows, upstream, revoked = make()
    await flows.login("a@example.com", "pw")
    await flows.refresh("rt-1")
    await flows.logout("rt-1")
    assert revoked == []


async def test_logout_revokes_locally_even_when_the_service_is_down():
    flows, upstream, revoked = make()
    await flows.login("a@example.com", "pw")
    upstream.fail = UpstreamError("identity", 503, "down")
    with pytest.raises(UpstreamError):
        await flows.logout("rt-1")
    assert revoked == ids("at-1")


async def test_unknown_refresh_token_revokes_nothing_when_the_service_refuses():
    flows, upstream, revoked = make()
    upstream.fail = UpstreamError("identity", 401, "Invalid refresh token")
    with pytest.raises(UpstreamError):
        await flows.logout("rt-unknown")
    assert revoked == []


async def test_logout_session_revokes_only_after_the_service_accepts():
    flows, upstream, revoked = make()
    upstream.fail = UpstreamError("identity", 404, "Session not found")
    with pytest.raises(UpstreamError):
        await flows.logout_session("at-1", "sid-of-someone-else")
    assert revoked == []
    upstream.fail = None
    await flows.logout_session("at-1", "sid-9")
    assert revoked == ["sid-9"]


async def test_without_a_revoker_logout_still_works():
    flows = AccountFlows(FakeIdentity(names_sessions=True))
    await flows.login("a@example.com", "pw")
    assert await flows.logout("rt-1") == "sid-1"


async def test_logout_is_seen_by_the_real_session_verifier():
    settings = cfg.pointed_at_emulator(cfg.load(env={"AUTHSIDECAR_EMULATOR_MODE": "on"}), "http://127.0.0.1:9")
    sidecar = Sidecar(settings)  # components are built, nothing is started: no sockets
    sidecar.accounts.upstream = FakeIdentity()
    await sidecar.accounts.login("a@example.com", "pw")
    assert not sidecar.tokens.revoked(ids("at-1")[0])  # what VerifyToken asks
    await sidecar.accounts.logout("rt-1")
    assert sidecar.tokens.revoked(ids("at-1")[0])
    assert not sidecar.tokens.revoked(ids("at-2")[0])
    await sidecar.close()


async def test_the_identity_circuit_opens_on_repeated_unavailability_and_a_probe_closes_it():
    clock = [1000.0]
    upstream = FakeIdentity()
    flows = AccountFlows(upstream, LogoutRevocations(1000, clock=lambda: clock[0]), clock=lambda: clock[0])
    upstream.fail = UpstreamError("identity", 502, "bad gateway")
    threshold = flows.circuit.failure_threshold
    for _ in range(threshold + 4):
        with pytest.raises(UpstreamError) as err:
            await flows.logout_session("at-1", "sid-9")
        assert err.value.unavailable
    assert upstream.calls.count("logout_session") == threshold
    assert "circuit open" in err.value.message
    upstream.fail = None
    clock[0] += flows.circuit.open_seconds
    await flows.logout_session("at-1", "sid-9")
    assert upstream.calls.count("logout_session") == threshold + 1


async def test_a_refused_login_is_an_answer_not_an_identity_outage():
    upstream = FakeIdentity()
    flows = AccountFlows(upstream)

    async def refused(email, password):
        raise UpstreamError("identity", 401, "wrong password")

    upstream.login = refused
    for _ in range(flows.circuit.failure_threshold + 2):
        with pytest.raises(UpstreamError):
            await flows.login("a@example.com", "nope")
    assert flows.circuit.allow()


class CountingIdentity(FakeIdentity):
    """A fresh token pair per login: at-1/rt-1, at-2/rt-2, …"""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def login(self, email, password):
        self.n += 1
        return LoginResult(tokens=Tokens(f"at-{self.n}", f"rt-{self.n}", 900))


async def test_row15_a_full_store_refuses_the_logout_and_forgets_nothing():
    clock = [1000.0]
    store = LogoutRevocations(2, clock=lambda: clock[0], wall=lambda: clock[0])
    upstream = CountingIdentity()
    flows = AccountFlows(upstream, store, clock=lambda: clock[0])
    for n in (1, 2):  # the victim's logout, then one of the attacker's
        await flows.login(f"user{n}@example.com", "pw")
        await flows.logout(f"rt-{n}")
    await flows.login("attacker@example.com", "pw")
    calls = len(upstream.calls)
    with pytest.raises(UpstreamError, match="full"):
        await flows.logout("rt-3")
    assert len(upstream.calls) == calls  # not logged out anywhere: the caller is told and may retry
    assert store.is_revoked(ids("at-1")[0]) and not store.is_revoked(ids("at-3")[0])  # nothing evicted
    clock[0] += 900 + 301  # past the tokens' exp and the leeway: room again
    assert not store.is_revoked(ids("at-1")[0])
    await flows.login("late@example.com", "pw")
    await flows.logout("rt-4")
    assert store.is_revoked(ids("at-4")[0])
