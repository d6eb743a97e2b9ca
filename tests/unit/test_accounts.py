"""Account core over a fake identity service: revocation on logout (of the access tokens that came through,
and of a session id when a wire names one), refresh rotation, pass-through errors."""

from __future__ import annotations

import pytest

from sidecar import config as cfg
from sidecar.app import Sidecar
from sidecar.core.account_records import AccountSession, LoginResult, Me, Tokens
from sidecar.core.accounts import AccountFlows
from sidecar.core.answers import UpstreamHealth
from sidecar.core.hashing import token_key, token_revocation_id
from sidecar.core.outcomes import UpstreamError


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


def make(**kwargs):
    revoked: list[str] = []
    upstream = FakeIdentity(**kwargs)
    return AccountFlows(upstream, revoked.append), upstream, revoked


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
    assert not sidecar.sessions.is_known_revoked(ids("at-1")[0])
    await sidecar.accounts.logout("rt-1")
    assert sidecar.sessions.is_known_revoked(ids("at-1")[0])
    assert not sidecar.sessions.is_known_revoked(ids("at-2")[0])
    await sidecar.close()


async def test_the_identity_circuit_opens_on_repeated_unavailability_and_a_probe_closes_it():
    clock = [1000.0]
    upstream = FakeIdentity()
    flows = AccountFlows(upstream, lambda sid: None, clock=lambda: clock[0])
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
