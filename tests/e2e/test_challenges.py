"""Step-up challenges end to end: a real sidecar process, the real emulator, loopback gRPC."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.struct_pb2 import Struct

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import SidecarProcess


@pytest.fixture
def user(emulator) -> str:
    """A fresh user id, enrolled with SMS on the emulator (so track asks for a challenge)."""
    user_id = f"usr_{uuid.uuid4().hex[:12]}"
    emulator.http.post(
        "/_control/challenges/users", json={"userId": user_id, "phoneNumber": "+64271234567"}
    ).raise_for_status()
    return user_id


def complete(emulator, user_id: str, action: str, key: str, success: bool = True) -> str:
    reply = emulator.http.post(
        "/_control/challenges/complete",
        json={"userId": user_id, "action": action, "idempotencyKey": key, "success": success},
    )
    reply.raise_for_status()
    return reply.json()["token"]


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    return err.value


def test_step_up_valid_once_then_already_used(sidecar: SidecarProcess, emulator, user):
    custom = Struct()
    custom.update({"amount": 250})
    tracked = sidecar.stub.Track(
        pb.TrackRequest(user_id=user, action="withdraw", custom=custom, redirect_url="https://app.test/done"), timeout=5
    )
    assert tracked.state == pb.ACTION_STATE_CHALLENGE_REQUIRED
    assert tracked.is_enrolled and tracked.token and tracked.url and tracked.idempotency_key
    assert list(tracked.enrolled_verification_methods) == ["SMS"]

    token = complete(emulator, user, "withdraw", tracked.idempotency_key)
    request = pb.ValidateChallengeRequest(token=token, user_id=user, action="withdraw")
    first = sidecar.stub.ValidateChallenge(request, timeout=5)
    assert first.is_valid and first.reason == pb.REASON_UNSPECIFIED
    assert first.state == pb.ACTION_STATE_CHALLENGE_SUCCEEDED and first.source == pb.SOURCE_UPSTREAM
    assert (first.user_id, first.action, first.idempotency_key, first.verification_method) == (
        user,
        "withdraw",
        tracked.idempotency_key,
        "SMS",
    )

    again = sidecar.stub.ValidateChallenge(request, timeout=5)
    assert not again.is_valid and again.reason == pb.REASON_ALREADY_USED
    assert emulator.counters().get("POST /v1/validate") == 1  # the replay never left the sidecar

    action = sidecar.stub.GetAction(
        pb.GetActionRequest(user_id=user, action="withdraw", idempotency_key=tracked.idempotency_key), timeout=5
    )
    assert action.state == pb.ACTION_STATE_CHALLENGE_SUCCEEDED and action.created_at.seconds > 0
    assert (
        sidecar.metric("authsidecar_upstream_requests_total", upstream="challenges", endpoint="validate", status="200")
        == 1
    )
    assert sidecar.metric("authsidecar_challenge_replays_total", source="cache") == 1


def test_replay_at_another_sidecar_is_already_used(sidecar_factory, emulator, user):
    first, second = sidecar_factory(), sidecar_factory()
    tracked = first.stub.Track(pb.TrackRequest(user_id=user, action="pay"), timeout=5)
    token = complete(emulator, user, "pay", tracked.idempotency_key)
    assert first.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=token), timeout=5).is_valid
    replay = second.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=token), timeout=5)
    assert not replay.is_valid and replay.reason == pb.REASON_ALREADY_USED


def test_wrong_user_wrong_action_and_failed_challenge(sidecar, emulator, user):
    tracked = sidecar.stub.Track(pb.TrackRequest(user_id=user, action="withdraw"), timeout=5)
    token = complete(emulator, user, "withdraw", tracked.idempotency_key)

    wrong_user = sidecar.stub.ValidateChallenge(
        pb.ValidateChallengeRequest(token=token, user_id="usr_other"), timeout=5
    )
    assert not wrong_user.is_valid and wrong_user.reason == pb.REASON_SUBJECT_MISMATCH and not wrong_user.user_id
    wrong_action = sidecar.stub.ValidateChallenge(
        pb.ValidateChallengeRequest(token=token, user_id=user, action="transfer"), timeout=5
    )
    assert not wrong_action.is_valid and wrong_action.reason == pb.REASON_ACTION_MISMATCH
    # Neither mismatch used the token up: its owner can still redeem it once.
    assert sidecar.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=token, user_id=user), timeout=5).is_valid

    tracked = sidecar.stub.Track(pb.TrackRequest(user_id=user, action="withdraw"), timeout=5)
    failed = complete(emulator, user, "withdraw", tracked.idempotency_key, success=False)
    answer = sidecar.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=failed, user_id=user), timeout=5)
    assert not answer.is_valid and answer.reason == pb.REASON_CHALLENGE_FAILED
    assert answer.state == pb.ACTION_STATE_CHALLENGE_FAILED

    pending = sidecar.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=tracked.token), timeout=5)
    assert not pending.is_valid and pending.reason == pb.REASON_CHALLENGE_FAILED  # same action, now failed
    unknown = sidecar.stub.ValidateChallenge(pb.ValidateChallengeRequest(token="chl_forged"), timeout=5)
    assert not unknown.is_valid and unknown.reason == pb.REASON_MALFORMED


def test_track_rules_get_user_and_enroll(sidecar, emulator):
    user_id = f"usr_{uuid.uuid4().hex[:12]}"
    assert not sidecar.stub.GetUser(pb.GetUserRequest(user_id=user_id), timeout=5).is_enrolled
    allowed = sidecar.stub.Track(pb.TrackRequest(user_id=user_id, action="login"), timeout=5)
    assert allowed.state == pb.ACTION_STATE_ALLOW and not allowed.is_enrolled

    enrolled = sidecar.stub.EnrollVerifiedAuthenticator(
        pb.EnrollVerifiedAuthenticatorRequest(
            user_id=user_id, verification_method="SMS", phone_number="+64 27 123 4567"
        ),
        timeout=5,
    )
    assert enrolled.user_authenticator_id and enrolled.verification_method == "SMS"
    got = sidecar.stub.GetUser(pb.GetUserRequest(user_id=user_id), timeout=5)
    assert got.is_enrolled and got.phone_number == "+64271234567"  # normalised to E.164 on the way
    assert list(got.enrolled_verification_methods) == ["SMS"] and got.default_verification_method == "SMS"

    action = f"act_{uuid.uuid4().hex[:8]}"
    emulator.http.post("/_control/challenges/rules", json={"action": action, "state": "BLOCK"}).raise_for_status()
    blocked = sidecar.stub.Track(pb.TrackRequest(user_id=user_id, action=action), timeout=5)
    assert blocked.state == pb.ACTION_STATE_BLOCK
    token_answer = sidecar.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=blocked.token), timeout=5)
    assert not token_answer.is_valid and token_answer.reason == pb.REASON_BLOCKED


def test_upstream_errors_map_to_codes_with_status(sidecar, emulator, user):
    err = rpc_error(sidecar.stub.GetAction, pb.GetActionRequest(user_id=user, action="x", idempotency_key="nope"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "404" in err.details()
    err = rpc_error(
        sidecar.stub.EnrollVerifiedAuthenticator,
        pb.EnrollVerifiedAuthenticatorRequest(user_id=user, verification_method="SMS"),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "400" in err.details() and "phoneNumber" in err.details()

    emulator.faults(error_rate=1.0, error_status=503, path_prefix="/v1")
    for call, request in (
        (sidecar.stub.ValidateChallenge, pb.ValidateChallengeRequest(token="chl_x", user_id=user)),
        (sidecar.stub.Track, pb.TrackRequest(user_id=user, action="pay")),
    ):
        err = rpc_error(call, request)
        assert err.code() == grpc.StatusCode.UNAVAILABLE and "503" in err.details()


def test_upstream_down_is_unavailable_never_valid(sidecar_factory, emulator, user):
    proc = sidecar_factory({"challenges": {"timeout_seconds": 0.3}})
    tracked = proc.stub.Track(pb.TrackRequest(user_id=user, action="pay"), timeout=5)
    token = complete(emulator, user, "pay", tracked.idempotency_key)
    # The platform gets the timed-out request only after 3 s (long after the retry below), so
    # whether the token still redeems depends on the sidecar alone.
    emulator.faults(latency_seconds=3.0, path_prefix="/v1")
    err = rpc_error(proc.stub.ValidateChallenge, pb.ValidateChallengeRequest(token=token, user_id=user))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "timed out" in err.details()
    health = proc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    assert [u.healthy for u in health.upstreams if u.name == "challenges"] == [False]
    emulator.faults(reset=True)
    # The timed-out attempt claimed nothing in the sidecar: the token still redeems, once.
    again = proc.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=token, user_id=user), timeout=5)
    assert again.is_valid and again.source == pb.SOURCE_UPSTREAM, again


def test_wrong_secret_key_is_permission_denied_with_status(sidecar_factory, user):
    proc = sidecar_factory({"challenges": {"secret_key": "not-the-key"}})
    err = rpc_error(proc.stub.GetUser, pb.GetUserRequest(user_id=user))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "401" in err.details()
    health = proc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    (challenges,) = [u for u in health.upstreams if u.name == "challenges"]
    assert not challenges.healthy and "401" in challenges.detail


def _big_custom() -> Struct:
    s = Struct()
    s.update({"blob": "x" * 9000})
    return s


@pytest.mark.parametrize(
    "rpc,request_,field",
    [
        ("Track", pb.TrackRequest(action="pay"), "user_id"),
        ("Track", pb.TrackRequest(user_id="u"), "action"),
        ("Track", pb.TrackRequest(user_id="..", action="pay"), "user_id"),
        ("Track", pb.TrackRequest(user_id="u", action="pay", redirect_url="javascript:alert(1)"), "redirect_url"),
        ("Track", pb.TrackRequest(user_id="u", action="pay", phone_number="not a phone"), "phone_number"),
        ("Track", pb.TrackRequest(user_id="u", action="pay", custom=_big_custom()), "custom"),
        ("GetAction", pb.GetActionRequest(user_id="u", action="pay"), "idempotency_key"),
        ("GetUser", pb.GetUserRequest(user_id="x" * 600), "user_id"),
        ("EnrollVerifiedAuthenticator", pb.EnrollVerifiedAuthenticatorRequest(user_id="u"), "verification_method"),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(shared_sidecar, rpc, request_, field):
    err = rpc_error(getattr(shared_sidecar.stub, rpc), request_)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith(f"{field}:")


@pytest.mark.parametrize(
    ("region", "url"), [("au", "https://au.api.authsignal.com/v1"), ("eu", "https://eu.api.authsignal.com/v1")]
)
def test_region_selects_the_platform_url(sidecar_factory, region, url):
    # Only the startup log is read: no test may send traffic to the real vendor.
    proc = sidecar_factory({"challenges": {"base_url": "", "region": region}})
    assert f'"base_url": "{url}"' in proc.log_path.read_text()


def test_region_without_base_url_must_be_known(sidecar_factory):
    with pytest.raises(RuntimeError) as err:
        sidecar_factory({"challenges": {"base_url": "", "region": "mars"}})
    assert "challenges.region" in str(err.value)


def test_without_a_secret_the_sidecar_is_ready_and_challenge_calls_fail_precondition(sidecar_factory):
    proc = sidecar_factory({"challenges": {"secret_key": ""}})
    assert proc.health_status() == "SERVING"
    with pytest.raises(grpc.RpcError) as err:
        proc.stub.ValidateChallenge(pb.ValidateChallengeRequest(token="tok"), timeout=5)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "challenges.secret_key is not set" in err.value.details()
