"""Account core over a fake identity service: revocation on logout, refresh rotation, pass-through errors."""

from __future__ import annotations

import pytest

from sidecar.core.accounts import AccountFlows, AccountSession, LoginResult, Me, Tokens
from sidecar.core.answers import UpstreamHealth
from sidecar.core.outcomes import UpstreamError


class FakeIdentity:
    def __init__(self, logout_answers_sid: bool = True) -> None:
        self.logout_answers_sid = logout_answers_sid
        self.refresh_sid = {"rt-1": "sid-1"}
        self.calls: list[str] = []
        self.fail: UpstreamError | None = None

    async def login(self, email, password):
        return LoginResult(tokens=Tokens("at-1", "rt-1", 900, "sid-1"))

    async def complete_mfa(self, mfa_token, code):
        return Tokens("at-2", "rt-2", 900, "sid-2")

    async def refresh(self, refresh_token):
        # A service that does not repeat the session id on refresh.
        return Tokens("at-3", "rt-3", 900, "")

    async def logout(self, refresh_token):
        self.calls.append("logout")
        if self.fail:
            raise self.fail
        return self.refresh_sid.get(refresh_token, "") if self.logout_answers_sid else ""

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


async def test_logout_revokes_the_session_named_by_the_service():
    flows, upstream, revoked = make()
    assert await flows.logout("rt-1") == "sid-1"
    assert revoked == ["sid-1"]


async def test_logout_revokes_a_session_learnt_at_login_when_the_service_does_not_say():
    flows, upstream, revoked = make(logout_answers_sid=False)
    await flows.login("a@example.com", "pw")
    assert await flows.logout("rt-1") == "sid-1"
    assert revoked == ["sid-1"]


async def test_session_follows_refresh_rotation():
    flows, upstream, revoked = make(logout_answers_sid=False)
    await flows.login("a@example.com", "pw")
    rotated = await flows.refresh("rt-1")
    assert rotated.session_id == "sid-1"
    await flows.logout("rt-3")
    assert revoked == ["sid-1"]


async def test_logout_revokes_locally_even_when_the_service_is_down():
    flows, upstream, revoked = make()
    await flows.login("a@example.com", "pw")
    upstream.fail = UpstreamError("identity", 503, "down")
    with pytest.raises(UpstreamError):
        await flows.logout("rt-1")
    assert revoked == ["sid-1"]


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
    flows = AccountFlows(FakeIdentity())
    assert await flows.logout("rt-1") == "sid-1"


async def test_logout_is_seen_by_the_real_session_verifier():
    from sidecar import config as cfg
    from sidecar.app import Sidecar

    settings = cfg.pointed_at_emulator(cfg.load(env={"AUTHSIDECAR_EMULATOR_MODE": "on"}), "http://127.0.0.1:9")
    sidecar = Sidecar(settings)  # components are built, nothing is started: no sockets
    sidecar.accounts.upstream = FakeIdentity()
    assert not sidecar.sessions.is_known_revoked("sid-1")
    await sidecar.accounts.logout("rt-1")
    assert sidecar.sessions.is_known_revoked("sid-1")
    assert not sidecar.sessions.is_known_revoked("sid-2")
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
