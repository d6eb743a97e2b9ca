"""The app-user flows' decisions in the account core, over a fake identity service: which flavour serves
which call, and what a password reset or email change revokes here (only after the platform accepted,
refused whole when the store has no room)."""

from __future__ import annotations

import pytest

from sidecar.core.accounts.flows import AccountFlows
from sidecar.core.accounts.records import FLOW_FLAVOUR, LoginResult, Me, Registered, Registration, Tokens
from sidecar.core.shared.hashing import token_key, token_revocation_id
from sidecar.core.shared.outcomes import Unsupported, UpstreamError
from tests.unit.test_accounts import FakeIdentity, RecordedRevocations


class FakeFlows(FakeIdentity):
    """Each login a new pair; the flows answer as the platform would, or fail with `fail`."""

    flavour = "inai"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def _pair(self) -> Tokens:
        self.n += 1
        return Tokens(f"at-{self.n}", f"rt-{self.n}", 900)

    async def login(self, email, password):
        return LoginResult(tokens=self._pair())

    async def register(self, registration):
        return Registered(self._pair(), "usr_1")

    async def set_active_organization(self, access_token, organization_id):
        return self._pair()

    async def reset_password(self, token, password):
        self.calls.append("reset_password")
        if self.fail:
            raise self.fail
        return "Password has been reset"

    async def confirm_email_change(self, access_token, email, token):
        self.calls.append("confirm_email_change")
        return "Email changed"

    async def me(self, access_token):
        self.calls.append("me")
        return Me("u1", "b@example.com")


def make(flavour: str = "inai", room: int = 1000):
    upstream = FakeFlows()
    upstream.flavour = flavour
    store = RecordedRevocations(room)
    return AccountFlows(upstream, store), upstream, store.ids


def ids(*access_tokens: str) -> list[str]:
    return [token_revocation_id(token_key(t)) for t in access_tokens]


async def test_a_reset_revokes_every_token_handed_out_to_that_account_and_no_other():
    flows, upstream, revoked = make()
    await flows.register(Registration("A@example.com", "pw"))  # at-1
    await flows.login("a@example.com ", "pw")  # at-2: the same account, however the email is written
    await flows.set_active_organization("at-2", "org")  # at-3: its owner learnt from at-2
    await flows.login("other@example.com", "pw")  # at-4
    message, count = await flows.reset_password("pr_1", "new", "a@EXAMPLE.com")
    assert (message, count) == ("Password has been reset", 3)
    assert sorted(revoked) == sorted(ids("at-1", "at-2", "at-3"))
    assert (await flows.reset_password("pr_2", "new", "a@example.com"))[1] == 0  # nothing left to revoke


async def test_a_reset_the_platform_refuses_revokes_nothing():
    flows, upstream, revoked = make()
    await flows.login("a@example.com", "pw")
    upstream.fail = UpstreamError("identity", 400, "Invalid or expired reset token")
    with pytest.raises(UpstreamError):
        await flows.reset_password("pr_forged", "new", "a@example.com")
    assert revoked == []
    upstream.fail = None
    assert (await flows.reset_password("pr_1", "new", "a@example.com"))[1] == 1  # still known: revoked now


async def test_a_reset_without_room_to_revoke_is_refused_before_the_platform_is_asked():
    flows, upstream, revoked = make(room=1)
    await flows.login("a@example.com", "pw")
    await flows.login("a@example.com", "pw")
    with pytest.raises(UpstreamError, match="full"):
        await flows.reset_password("pr_1", "new", "a@example.com")
    assert upstream.calls == [] and revoked == []


async def test_an_email_change_revokes_the_account_and_the_token_it_came_with():
    flows, upstream, revoked = make("identity-service")
    await flows.login("b@example.com", "pw")  # at-1
    await flows.login("b@example.com", "pw")  # at-2
    message, count = await flows.confirm_email_change("at-2", "new@example.com", "ec_1")
    assert (message, count) == ("Email changed", 2) and upstream.calls == ["confirm_email_change"]
    assert sorted(revoked) == sorted(ids("at-1", "at-2"))


async def test_an_email_change_with_a_token_from_elsewhere_asks_whose_it_is_first():
    flows, upstream, revoked = make("identity-service")
    await flows.login("b@example.com", "pw")  # at-1, through this sidecar
    _, count = await flows.confirm_email_change("at-elsewhere", "new@example.com", "ec_1")
    assert upstream.calls == ["me", "confirm_email_change"] and count == 2
    assert sorted(revoked) == sorted(ids("at-1", "at-elsewhere"))


@pytest.mark.parametrize("flow", sorted(FLOW_FLAVOUR))
async def test_the_other_flavour_is_unsupported_before_anything_is_sent(flow):
    other = "identity-service" if FLOW_FLAVOUR[flow] == "inai" else "inai"
    flows, upstream, _ = make(other)
    args = {
        "register": (Registration("a@example.com", "pw"),),
        "set_active_organization": ("at", "org"),
        "forgot_password": ("a@example.com",),
        "reset_password": ("t", "pw", "a@example.com"),
        "verify_email": ("t",),
        "toggle_two_factor": ("at", True),
        "confirm_enable_two_factor": ("at", "a@example.com", "1"),
        "request_email_change": ("at", "a@example.com"),
        "confirm_email_change": ("at", "a@example.com", "t"),
    }[flow]
    with pytest.raises(Unsupported, match=f"served by identity.api {FLOW_FLAVOUR[flow]}"):
        await getattr(flows, flow)(*args)
    assert upstream.calls == []
