"""The challenge platform adapter: region URLs, wire shapes (against the emulator in-process), error mapping."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from sidecar import config as cfg
from sidecar.core.challenges.records import EnrollInput, TrackInput
from sidecar.core.challenges.verifier import ChallengeVerifier
from sidecar.core.shared.outcomes import ActionState, Reason, UpstreamError
from sidecar.emulator.asgi import build_app
from sidecar.upstream.authsignal import AuthsignalClient, base_url_for

BASE = "http://emulator.test"


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("us", "https://api.authsignal.com/v1"),
        ("au", "https://au.api.authsignal.com/v1"),
        ("eu", "https://eu.api.authsignal.com/v1"),
    ],
)
def test_region_selects_the_documented_base_url(region, url):
    settings = cfg.load(env={"AUTHSIDECAR_CHALLENGES_REGION": region})
    assert base_url_for(settings.challenges) == url
    assert AuthsignalClient(settings.challenges).base_url == url


def test_custom_base_url_wins_over_region():
    settings = cfg.load(
        env={"AUTHSIDECAR_CHALLENGES_REGION": "eu", "AUTHSIDECAR_CHALLENGES_BASE_URL": "https://auth.example.com/v1/"}
    )
    assert base_url_for(settings.challenges) == "https://auth.example.com/v1"


def test_unknown_region_without_base_url_is_a_config_error():
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(env={"AUTHSIDECAR_CHALLENGES_REGION": "mars"})
    assert any(p.startswith("challenges.region") for p in err.value.problems)


async def test_requests_use_basic_auth_with_the_secret_and_region_url():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"isEnrolled": False})

    settings = cfg.ChallengeSettings(region="au", secret_key="s3cret")
    platform = AuthsignalClient(settings, transport=httpx.MockTransport(handler))
    await platform.get_user("usr/../admin")
    (req,) = seen
    assert str(req.url) == "https://au.api.authsignal.com/v1/users/usr%2F..%2Fadmin"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"s3cret:").decode()
    assert req.headers["x-authsignal-version"] == "2.20.0"  # what @authsignal/node 2.21.0 sends


async def test_validate_sends_the_documented_body_and_reads_actionCode():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "isValid": True,
                "state": "CHALLENGE_SUCCEEDED",
                "userId": "u",
                "actionCode": "pay",
                "idempotencyKey": "ik",
                "verificationMethod": "PASSKEY",
            },
        )

    platform = AuthsignalClient(cfg.ChallengeSettings(secret_key="k"), transport=httpx.MockTransport(handler))
    record = await platform.validate("tok", "u", None)
    assert seen == [{"token": "tok", "userId": "u"}]
    assert (record.is_valid, record.state, record.action, record.verification_method) == (
        True,
        ActionState.CHALLENGE_SUCCEEDED,
        "pay",
        "PASSKEY",
    )


@pytest.mark.parametrize(
    ("status", "unavailable"), [(400, False), (401, False), (404, False), (429, True), (500, True), (503, True)]
)
async def test_http_errors_keep_status_and_description(status, unavailable):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "some_code", "errorDescription": "Explained."})

    platform = AuthsignalClient(cfg.ChallengeSettings(secret_key="k"), transport=httpx.MockTransport(handler))
    with pytest.raises(UpstreamError) as err:
        await platform.get_action("u", "a", "ik")
    e = err.value
    assert (e.upstream, e.status, e.unavailable) == ("challenges", status, unavailable)
    assert "Explained." in e.message and "some_code" in e.body


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_no_answer_is_unavailable(exc):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    platform = AuthsignalClient(cfg.ChallengeSettings(secret_key="k"), transport=httpx.MockTransport(handler))
    with pytest.raises(UpstreamError) as err:
        await platform.validate("tok", None, None)
    assert err.value.status == 0 and err.value.unavailable
    assert (await platform.probe())[0] is False


async def test_non_json_success_is_unavailable_not_a_guess():
    platform = AuthsignalClient(
        cfg.ChallengeSettings(secret_key="k"),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")),
    )
    with pytest.raises(UpstreamError) as err:
        await platform.validate("tok", None, None)
    assert err.value.unavailable


# --- against the emulator, in-process (ASGI transport: no sockets) ----------------------------------


@pytest.fixture
def emulator_app():
    return build_app(BASE)


def platform_for(app, secret: str = cfg.EMULATOR_SECRET_KEY) -> AuthsignalClient:
    settings = cfg.ChallengeSettings(base_url=f"{BASE}/v1", secret_key=secret)
    return AuthsignalClient(settings, transport=httpx.ASGITransport(app=app))


async def control(app, path: str, body: dict) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        response = await c.post(f"/_control/challenges/{path}", json=body)
        response.raise_for_status()
        return response.json()


async def test_step_up_round_trip_through_adapter_and_emulator(emulator_app):
    platform = platform_for(emulator_app)
    verifier = ChallengeVerifier(platform)
    unenrolled = await platform.track(TrackInput(user_id="usr_1", action="withdraw"))
    assert unenrolled.state is ActionState.ALLOW and not unenrolled.is_enrolled

    enrolled = await platform.enroll_verified_authenticator(
        EnrollInput(user_id="usr_1", verification_method="SMS", phone_number="+64271234567")
    )
    assert enrolled.user_authenticator_id and enrolled.verification_method == "SMS"
    user = await platform.get_user("usr_1")
    assert user.is_enrolled and user.enrolled_verification_methods == ("SMS",)

    tracked = await platform.track(TrackInput(user_id="usr_1", action="withdraw", redirect_url="https://x.test/"))
    assert tracked.state is ActionState.CHALLENGE_REQUIRED and tracked.token and tracked.url
    assert (await verifier.validate(tracked.token, "usr_1", None)).verdict.reason is Reason.NOT_VERIFIED

    done = await control(
        emulator_app, "complete", {"userId": "usr_1", "action": "withdraw", "idempotencyKey": tracked.idempotency_key}
    )
    action = await platform.get_action("usr_1", "withdraw", tracked.idempotency_key)
    assert action.state is ActionState.CHALLENGE_SUCCEEDED and action.created_at and action.verification_method
    assert (await verifier.validate(done["token"], "usr_2", None)).verdict.reason is Reason.SUBJECT_MISMATCH
    ok = await verifier.validate(done["token"], "usr_1", "withdraw")
    assert ok.verdict.valid and ok.idempotency_key == tracked.idempotency_key
    # A second sidecar (fresh ledger) learns "used" from the platform itself.
    other = ChallengeVerifier(platform_for(emulator_app))
    assert (await other.validate(done["token"], "usr_1", None)).verdict.reason is Reason.ALREADY_USED


async def test_emulator_rules_failed_challenges_and_errors(emulator_app):
    platform = platform_for(emulator_app)
    await control(emulator_app, "rules", {"action": "wire", "state": "BLOCK"})
    assert (await platform.track(TrackInput(user_id="u", action="wire"))).state is ActionState.BLOCK
    await control(emulator_app, "rules", {"action": "wire", "state": "REVIEW_REQUIRED"})
    assert (await platform.track(TrackInput(user_id="u", action="wire"))).state is ActionState.REVIEW

    await control(emulator_app, "users", {"userId": "u"})
    tracked = await platform.track(TrackInput(user_id="u", action="pay", idempotency_key="ik-1"))
    assert tracked.idempotency_key == "ik-1"
    failed = await control(
        emulator_app, "complete", {"userId": "u", "action": "pay", "idempotencyKey": "ik-1", "success": False}
    )
    answer = await ChallengeVerifier(platform).validate(failed["token"], None, None)
    assert answer.verdict.reason is Reason.CHALLENGE_FAILED and answer.state is ActionState.CHALLENGE_FAILED
    again = await platform.track(TrackInput(user_id="u", action="pay", idempotency_key="ik-1"))
    assert again.state is ActionState.CHALLENGE_FAILED  # tracking is idempotent: no fresh chance to pass

    with pytest.raises(UpstreamError) as err:
        await platform.get_action("u", "pay", "no-such-key")
    assert err.value.status == 404
    with pytest.raises(UpstreamError) as err:
        await platform.enroll_verified_authenticator(EnrollInput(user_id="u", verification_method="SMS"))
    assert err.value.status == 400 and "phoneNumber" in err.value.message
    with pytest.raises(UpstreamError) as err:
        await platform_for(emulator_app, secret="wrong").get_user("u")
    assert err.value.status == 401
