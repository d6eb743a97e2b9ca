"""SecondFactorService with `second_factors.provider: verify`: real sidecar processes against the emulator's
Twilio Verify v2 area (sidecar → emulator over HTTP), and two sidecars sharing one real redis-server."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from urllib.parse import parse_qsl

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import RedisProcess, redis_server_binary, wait_until
from sidecar.emulator.credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)

PHONE, E164 = "4155552671", "+14155552671"
CONTROL = "/_control/twilio-verify"
WATCH_INTERVAL = 0.2


def verify_config(url: str, **overrides) -> dict:
    section = {
        "base_url": f"{url}/twilio-verify",
        "account_sid": TWILIO_ACCOUNT_SID,
        "auth_token": TWILIO_AUTH_TOKEN,
        "service_sid": TWILIO_VERIFY_SERVICE_SID,
        "approval_poll_interval_seconds": WATCH_INTERVAL,
        **overrides,
    }
    return {"second_factors": {"provider": "verify"}, "verify": section, "circuit": {"failure_threshold": 50}}


@pytest.fixture
def twilio(emulator):
    emulator.http.post(f"{CONTROL}/reset").raise_for_status()
    yield emulator
    emulator.http.post(f"{CONTROL}/reset").raise_for_status()


@pytest.fixture
def factors(sidecar_factory, twilio):
    proc = sidecar_factory(verify_config(twilio.url))
    stub = factors_pb2_grpc.SecondFactorServiceStub(proc.channel)
    stub.proc = proc
    return stub


def verify_requests(emulator, route_end: str) -> int:
    return sum(
        1 for r in emulator.requests() if r["path"].startswith("/twilio-verify") and r["path"].endswith(route_end)
    )


def sent_code(emulator, to: str = E164) -> dict:
    reply = emulator.http.get(f"{CONTROL}/verifications/last", params={"to": to})
    reply.raise_for_status()
    return reply.json()


def check(factors, code: str) -> pb.CheckPhoneVerificationResponse:
    return factors.CheckPhoneVerification(
        pb.CheckPhoneVerificationRequest(country="US", phone=PHONE, code=code), timeout=10
    )


def start(factors, via=pb.VERIFICATION_VIA_SMS) -> pb.StartPhoneVerificationResponse:
    return factors.StartPhoneVerification(
        pb.StartPhoneVerificationRequest(country="US", phone=PHONE, via=via), timeout=10
    )


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def status_of(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    return err.value.code(), err.value.details()


def test_phone_verification_wrong_right_and_replay(factors, twilio):
    started = start(factors)
    assert "pending" in started.message and started.seconds_to_expire == 600
    sent = sent_code(twilio)
    assert sent["channel"] == "sms" and sent["to"] == E164
    bad = check(factors, wrong(sent["code"]))
    assert not bad.valid and bad.reason == auth_pb2.REASON_CHALLENGE_FAILED
    good = check(factors, sent["code"])
    assert good.valid and good.reason == auth_pb2.REASON_UNSPECIFIED
    checks = verify_requests(twilio, "/VerificationCheck")
    replay = check(factors, sent["code"])
    assert not replay.valid and replay.reason == auth_pb2.REASON_ALREADY_USED
    assert verify_requests(twilio, "/VerificationCheck") == checks  # answered by the ledger, not the platform


def test_an_approved_verification_is_20404_for_a_new_code(factors, twilio):
    start(factors)
    code = sent_code(twilio)["code"]
    assert check(factors, code).valid
    # Another (never used) code: the platform says 20404 — the verification is approved, so gone.
    missing = check(factors, wrong(code))
    assert not missing.valid and missing.reason == auth_pb2.REASON_NOT_FOUND and "20404" in missing.detail


def test_request_sms_and_call_go_to_a_phone_and_are_checked_as_phone_codes(factors, twilio):
    sms = factors.RequestSms(pb.RequestSmsRequest(user_id="user-1", country="US", phone=PHONE), timeout=10)
    assert sms.cellphone.endswith("71") and PHONE not in sms.cellphone and not sms.ignored
    assert sent_code(twilio)["channel"] == "sms"
    call = factors.RequestCall(pb.RequestCallRequest(user_id="user-1", country="US", phone=PHONE), timeout=10)
    assert "pending" in call.message
    sent = sent_code(twilio)
    assert check(factors, sent["code"]).valid
    code, detail = status_of(factors.RequestSms, pb.RequestSmsRequest(user_id="user-1"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and detail.startswith("phone:")


def test_totp_enrol_confirm_verify_and_replay(factors, twilio):
    enrolled = factors.EnrollTotp(pb.EnrollTotpRequest(user_id="alice@example.com", friendly_name="Acme"), timeout=10)
    assert enrolled.binding_uri.startswith("otpauth://totp/") and enrolled.secret in enrolled.binding_uri
    assert enrolled.factor_id.startswith("YF")
    # Twilio holds a hash of the user id as the entity's identity, never the id itself.
    identity = hashlib.sha256(b"authsidecar/verify/entity\x00alice@example.com").hexdigest()
    paths = [r["path"] for r in twilio.requests() if r["path"].startswith("/twilio-verify")]
    assert paths == [f"/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}/Entities/{identity}/Factors"]
    assert not any("alice" in str(r) for r in twilio.requests())

    code = twilio.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
    req = pb.ConfirmTotpRequest(user_id="alice@example.com", factor_id=enrolled.factor_id, code=wrong(code))
    assert factors.ConfirmTotp(req, timeout=10).reason == auth_pb2.REASON_CHALLENGE_FAILED
    req.code = code
    assert factors.ConfirmTotp(req, timeout=10).valid

    # The platform would refuse the same code twice in one time step; with that switched off, only the
    # sidecar's ledger keeps it one-time.
    twilio.http.post(f"{CONTROL}/faults", json={"not_one_time": True}).raise_for_status()
    totp = pb.VerifyTotpRequest(user_id="alice@example.com", code=code, factor_id=enrolled.factor_id)
    assert factors.VerifyTotp(totp, timeout=10).valid
    replay = factors.VerifyTotp(totp, timeout=10)
    assert not replay.valid and replay.reason == auth_pb2.REASON_ALREADY_USED


def push_factor(emulator, user_id: str) -> str:
    """Enrol a push factor as the device's Verify SDK would (the app holds the key), then verify it."""
    identity = hashlib.sha256(b"authsidecar/verify/entity\x00" + user_id.encode()).hexdigest()
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    reply = emulator.http.post(
        f"/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}/Entities/{identity}/Factors",
        auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
        data={
            "FriendlyName": "phone",
            "FactorType": "push",
            "Binding.Alg": "ES256",
            "Binding.PublicKey": base64.b64encode(der).decode(),
            "Config.AppId": "com.example.app",
            "Config.NotificationPlatform": "none",
            "Config.SdkVersion": "1.0.0",
        },
    )
    assert reply.status_code == 201, reply.text
    sid = reply.json()["sid"]
    emulator.http.post(f"{CONTROL}/factors/{sid}/verify").raise_for_status()
    return sid


def test_push_approval_create_get_and_watch(factors, twilio):
    factor = push_factor(twilio, "bob")
    created = factors.CreateApprovalRequest(
        pb.CreateApprovalRequestRequest(
            user_id="bob",
            message="Log in from Lisbon?",
            visible_details={"IP": "10.0.0.1"},
            hidden_details={"session": "s-1"},
            ttl_seconds=120,
            factor_id=factor,
        ),
        timeout=10,
    )
    challenge = created.id.split(".")[0]
    assert challenge.startswith("YC")
    last = twilio.http.get(f"{CONTROL}/challenges/last").json()
    assert last["sid"] == challenge
    get = pb.GetApprovalRequestRequest(id=created.id)
    assert factors.GetApprovalRequest(get, timeout=10).status == pb.APPROVAL_STATUS_PENDING

    seen: list[int] = []
    stream = factors.WatchApprovalRequest(pb.WatchApprovalRequestRequest(id=created.id), timeout=30)
    reader = threading.Thread(target=lambda: seen.extend(m.status for m in stream), daemon=True)
    reader.start()
    wait_until(lambda: seen, timeout=10, what="the first watch message")
    twilio.http.post(f"{CONTROL}/challenges/{challenge}", json={"status": "approved"}).raise_for_status()
    reader.join(20)
    assert not reader.is_alive() and seen == [pb.APPROVAL_STATUS_PENDING, pb.APPROVAL_STATUS_APPROVED]
    assert factors.GetApprovalRequest(get, timeout=10).status == pb.APPROVAL_STATUS_APPROVED

    code, detail = status_of(factors.GetApprovalRequest, pb.GetApprovalRequestRequest(id="YC123.not-ours"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and detail.startswith("id:")


def test_callbacks_form_and_json_signed_by_the_emulator(factors, twilio):
    url = "https://app.example.com/hooks/verify?tenant=7"
    form = twilio.http.post(f"{CONTROL}/webhook", json={"url": url, "params": {"type": "challenge.approved"}}).json()
    signature = form["headers"]["X-Twilio-Signature"]
    ok = factors.VerifyCallbackSignature(
        pb.VerifyCallbackSignatureRequest(method="POST", url=url, body=form["body"].encode(), signature=signature),
        timeout=10,
    )
    assert ok.valid
    tampered = factors.VerifyCallbackSignature(
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=url, body=form["body"].replace("approved", "denied").encode(), signature=signature
        ),
        timeout=10,
    )
    assert not tampered.valid and tampered.reason == auth_pb2.REASON_BAD_SIGNATURE

    signed = twilio.http.post(f"{CONTROL}/webhook", json={"url": url, "json": {"type": "factor.verified"}}).json()
    req = pb.VerifyCallbackSignatureRequest(
        method="POST",
        url=signed["url"],
        body=signed["body"].encode(),
        signature=signed["headers"]["X-Twilio-Signature"],
    )
    assert factors.VerifyCallbackSignature(req, timeout=10).valid
    req.body = signed["body"].replace("verified", "deleted").encode()
    assert factors.VerifyCallbackSignature(req, timeout=10).reason == auth_pb2.REASON_BAD_SIGNATURE

    # A malformed webhook gets a clear answer naming the field, never a guess.
    doubled = (form["body"] + "&type=challenge.denied").encode()
    code, detail = status_of(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(method="POST", url=url, body=doubled, signature=signature),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "repeats the key 'type'" in detail
    code, detail = status_of(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(method="POST", url=url, body=b"x" * 70_000, signature=signature),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and detail.startswith("body:")


def test_platform_down_fails_closed(factors, twilio):
    twilio.faults(error_rate=1.0, error_status=503, path_prefix="/twilio-verify")
    answer = check(factors, "123456")
    assert not answer.valid and answer.reason == auth_pb2.REASON_UPSTREAM_UNAVAILABLE
    code, _ = status_of(factors.StartPhoneVerification, pb.StartPhoneVerificationRequest(country="US", phone=PHONE))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_a_1mb_answer_is_a_clear_failure(factors, twilio):
    twilio.faults(huge_answer_bytes=1_100_000, path_prefix="/twilio-verify")
    answer = check(factors, "123456")
    assert not answer.valid and answer.reason == auth_pb2.REASON_UPSTREAM_UNAVAILABLE


def test_limits_give_their_reasons(factors, twilio):
    start(factors)
    code = sent_code(twilio)["code"]
    answers = [check(factors, wrong(code)) for _ in range(6)]
    assert answers[-1].reason == auth_pb2.REASON_BLOCKED and "max check attempts" in answers[-1].detail
    for _ in range(4):
        start(factors)
    status, detail = status_of(
        factors.StartPhoneVerification, pb.StartPhoneVerificationRequest(country="US", phone=PHONE)
    )
    assert status == grpc.StatusCode.RESOURCE_EXHAUSTED and "max send attempts reached (60203)" in detail


def test_rate_limit_honours_retry_after_without_hammering(factors, twilio):
    twilio.http.post(f"{CONTROL}/faults", json={"rate_limited": 1, "retry_after": 30}).raise_for_status()
    before = len(twilio.requests())
    answers = [check(factors, "123456") for _ in range(5)]
    assert all(a.reason == auth_pb2.REASON_BLOCKED and "20429" in a.detail for a in answers)
    assert "retry after 30s" in answers[0].detail
    assert len(twilio.requests()) - before == 1  # one request reached Twilio; the rest waited it out here


def test_wrong_credentials_are_an_outage_not_an_answer(sidecar_factory, twilio):
    proc = sidecar_factory(verify_config(twilio.url, auth_token="wrong-token"))
    stub = factors_pb2_grpc.SecondFactorServiceStub(proc.channel)
    answer = check(stub, "123456")
    assert not answer.valid and answer.reason == auth_pb2.REASON_UPSTREAM_UNAVAILABLE
    assert answer.detail.startswith("verify: authentication failed (20003)"), (
        answer.detail
    )  # not "platform unavailable"
    totp = stub.VerifyTotp(pb.VerifyTotpRequest(user_id="u", code="123456", factor_id="YF" + "0" * 32), timeout=10)
    assert not totp.valid and totp.detail.startswith("verify: authentication failed (20003)"), totp.detail
    code, detail = status_of(stub.StartPhoneVerification, pb.StartPhoneVerificationRequest(country="US", phone=PHONE))
    assert code == grpc.StatusCode.UNAVAILABLE and "authentication failed (20003)" in detail


def test_an_api_key_authenticates_too(sidecar_factory, twilio):
    proc = sidecar_factory(
        verify_config(twilio.url, auth_token="", api_key_sid=TWILIO_API_KEY_SID, api_key_secret=TWILIO_API_KEY_SECRET)
    )
    stub = factors_pb2_grpc.SecondFactorServiceStub(proc.channel)
    start(stub)
    assert check(stub, sent_code(twilio)["code"]).valid
    # Without the auth token webhooks cannot be checked: said, never answered valid.
    code, detail = status_of(
        stub.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(method="POST", url="https://a.example/x", body=b"a=1", signature="AAAA"),
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "verify.auth_token" in detail


def test_authy_only_and_verify_only_rpcs_say_so(factors, sidecar_factory):
    code, detail = status_of(
        factors.RegisterUser, pb.RegisterUserRequest(email="u@example.com", country="US", phone=PHONE)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "EnrollTotp" in detail
    authy = factors_pb2_grpc.SecondFactorServiceStub(sidecar_factory().channel)
    code, detail = status_of(authy.EnrollTotp, pb.EnrollTotpRequest(user_id="u", friendly_name="Acme"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "provider: verify" in detail


@pytest.fixture
def redis(tmp_path):
    binary, problem = redis_server_binary()
    if binary is None:
        pytest.skip(f"redis-server missing and not installable: {problem}")
    server = RedisProcess(binary, tmp_path / "redis")
    yield server
    server.stop()


def test_one_time_across_two_sidecars_on_one_redis(sidecar_factory, twilio, redis):
    """The platform answers "approved" to the same TOTP code again here (its one-time switched off);
    only the fleet's ledger holds it to one success, whichever pod is asked."""
    ledger = {"ledger": {"backend": "redis", "url": f"redis://127.0.0.1:{redis.port}/0"}}
    pods = [
        factors_pb2_grpc.SecondFactorServiceStub(sidecar_factory({**verify_config(twilio.url), **ledger}).channel)
        for _ in range(2)
    ]
    enrolled = pods[0].EnrollTotp(pb.EnrollTotpRequest(user_id="carol", friendly_name="Acme"), timeout=10)
    code = twilio.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
    confirm = pb.ConfirmTotpRequest(user_id="carol", factor_id=enrolled.factor_id, code=code)
    assert pods[1].ConfirmTotp(confirm, timeout=10).valid
    twilio.http.post(f"{CONTROL}/faults", json={"not_one_time": True}).raise_for_status()
    totp = pb.VerifyTotpRequest(user_id="carol", code=code, factor_id=enrolled.factor_id)
    first, second = pods[0].VerifyTotp(totp, timeout=10), pods[1].VerifyTotp(totp, timeout=10)
    assert first.valid
    assert not second.valid and second.reason == auth_pb2.REASON_ALREADY_USED
    assert verify_requests(twilio, "/Challenges") == 2  # both pods asked the platform ...
    assert twilio.http.get(f"{CONTROL}/challenges/last").json()["status"] == "approved"  # ... and it said yes twice


def test_an_approved_phone_verification_is_valid_once_across_the_fleet(sidecar_factory, twilio, redis):
    """The platform answers "approved" again for an approved verification here; the fleet's ledger says once."""
    twilio.http.post(f"{CONTROL}/faults", json={"not_one_time": True}).raise_for_status()
    ledger = {"ledger": {"backend": "redis", "url": f"redis://127.0.0.1:{redis.port}/0"}}
    pods = [
        factors_pb2_grpc.SecondFactorServiceStub(sidecar_factory({**verify_config(twilio.url), **ledger}).channel)
        for _ in range(2)
    ]
    start(pods[0])
    code = sent_code(twilio)["code"]
    first, second = check(pods[0], code), check(pods[1], code)
    assert first.valid
    assert not second.valid and second.reason == auth_pb2.REASON_ALREADY_USED
    assert verify_requests(twilio, "/VerificationCheck") == 2  # both pods asked; the platform approved both


def test_user_status_and_deletion_read_the_users_entity(factors, twilio):
    """GetUserStatus lists the entity's factors; DeleteUser removes the entity, its factors with it."""
    fresh = factors.GetUserStatus(pb.GetUserStatusRequest(user_id="dave@example.com"), timeout=10)
    assert (fresh.registered, fresh.confirmed, list(fresh.devices)) == (False, False, [])  # no entity yet: 20404
    enrolled = factors.EnrollTotp(pb.EnrollTotpRequest(user_id="dave@example.com", friendly_name="Acme"), timeout=10)
    pending = factors.GetUserStatus(pb.GetUserStatusRequest(user_id="dave@example.com"), timeout=10)
    assert (pending.registered, pending.confirmed, pending.user_id) == (True, False, "dave@example.com")
    code = twilio.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
    confirm = pb.ConfirmTotpRequest(user_id="dave@example.com", factor_id=enrolled.factor_id, code=code)
    assert factors.ConfirmTotp(confirm, timeout=10).valid
    status = factors.GetUserStatus(pb.GetUserStatusRequest(user_id="dave@example.com"), timeout=10)
    assert (status.registered, status.confirmed) == (True, True)
    assert list(status.devices) == [f"totp {enrolled.factor_id}"]
    assert not any("dave" in str(r) for r in twilio.requests())  # Twilio sees the identity hash only

    factors.DeleteUser(pb.DeleteUserRequest(user_id="dave@example.com"), timeout=10)
    assert (
        verify_requests(
            twilio, "/Entities/" + hashlib.sha256(b"authsidecar/verify/entity\x00dave@example.com").hexdigest()
        )
        == 1
    )
    gone = factors.GetUserStatus(pb.GetUserStatusRequest(user_id="dave@example.com"), timeout=10)
    assert (gone.registered, gone.confirmed) == (False, False)
    # The factor went with the entity: a code for it is no longer anything the platform approves.
    totp = pb.VerifyTotpRequest(user_id="dave@example.com", code=code, factor_id=enrolled.factor_id)
    assert not factors.VerifyTotp(totp, timeout=10).valid
    code_, detail = status_of(factors.DeleteUser, pb.DeleteUserRequest(user_id="dave@example.com"))
    assert code_ == grpc.StatusCode.NOT_FOUND, detail


def test_verify_totp_and_push_without_factor_id_find_the_verified_factor(factors, twilio):
    """Without factor_id the adapter lists the user's factors and challenges the verified one of the kind."""
    enrolled = factors.EnrollTotp(pb.EnrollTotpRequest(user_id="erin", friendly_name="Acme"), timeout=10)
    code = twilio.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
    # Unconfirmed: there is no verified TOTP factor to challenge.
    unconfirmed = factors.VerifyTotp(pb.VerifyTotpRequest(user_id="erin", code=code), timeout=10)
    assert not unconfirmed.valid and unconfirmed.reason == auth_pb2.REASON_NOT_FOUND
    assert "no verified totp factor" in unconfirmed.detail
    confirm = pb.ConfirmTotpRequest(user_id="erin", factor_id=enrolled.factor_id, code=code)
    assert factors.ConfirmTotp(confirm, timeout=10).valid
    twilio.http.post(f"{CONTROL}/faults", json={"not_one_time": True}).raise_for_status()
    assert factors.VerifyTotp(pb.VerifyTotpRequest(user_id="erin", code=code), timeout=10).valid
    last = twilio.http.get(f"{CONTROL}/challenges/last").json()
    assert last["factor_sid"] == enrolled.factor_id
    replay = factors.VerifyTotp(pb.VerifyTotpRequest(user_id="erin", code=code), timeout=10)
    assert not replay.valid and replay.reason == auth_pb2.REASON_ALREADY_USED

    no_push = status_of(
        factors.CreateApprovalRequest, pb.CreateApprovalRequestRequest(user_id="erin", message="Log in?")
    )
    assert no_push[0] == grpc.StatusCode.NOT_FOUND and "no verified push factor" in no_push[1]
    push = push_factor(twilio, "erin")
    created = factors.CreateApprovalRequest(
        pb.CreateApprovalRequestRequest(user_id="erin", message="Log in?", ttl_seconds=120), timeout=10
    )
    last = twilio.http.get(f"{CONTROL}/challenges/last").json()
    assert created.id.startswith(last["sid"] + ".") and last["factor_sid"] == push


def test_upstream_health_probes_the_verify_service(factors, twilio, sidecar_factory):
    def verify_health(stub) -> auth_pb2.UpstreamHealth:
        reply = stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=15)
        return next(u for u in reply.upstreams if u.name == "verify")

    healthy = verify_health(factors.proc.stub)
    assert healthy.healthy and healthy.detail == "ok"
    assert verify_requests(twilio, f"/v2/Services/{TWILIO_VERIFY_SERVICE_SID}") >= 1  # GET the service
    twilio.faults(error_rate=1.0, error_status=503, path_prefix="/twilio-verify")
    down = verify_health(factors.proc.stub)
    assert not down.healthy and "503" in down.detail
    twilio.reset()
    # Nothing listening at all (a port just closed): unhealthy, said, never an error.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    gone = sidecar_factory(verify_config(f"http://127.0.0.1:{closed}"))
    unreachable = verify_health(gone.stub)
    assert not unreachable.healthy and unreachable.detail
    wrong = sidecar_factory(verify_config(twilio.url, auth_token="wrong-token"))
    refused = verify_health(wrong.stub)
    assert not refused.healthy and "authentication failed (20003)" in refused.detail


def test_the_emulators_request_log_keeps_no_verify_secret(factors, twilio):
    """Codes (Code, AuthPayload, CustomCode), the Basic credentials and a TOTP binding secret are kept in
    the emulator's request log (readable by anyone on loopback) only as fingerprints."""
    start(factors)
    code = sent_code(twilio)["code"]
    assert check(factors, code).valid
    enrolled = factors.EnrollTotp(pb.EnrollTotpRequest(user_id="frank", friendly_name="Acme"), timeout=10)
    totp = twilio.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
    confirm = pb.ConfirmTotpRequest(user_id="frank", factor_id=enrolled.factor_id, code=totp)
    assert factors.ConfirmTotp(confirm, timeout=10).valid
    identity = hashlib.sha256(b"authsidecar/verify/entity\x00frank").hexdigest()
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    base = f"/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}"
    made = twilio.http.post(
        f"{base}/Entities/{identity}/Factors",
        auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
        data={"FriendlyName": "x", "FactorType": "totp", "Binding.Secret": secret},
    )
    assert made.status_code == 201, made.text
    twilio.http.post(
        f"{base}/Verifications",
        auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
        data={"To": "+14155550999", "Channel": "sms", "CustomCode": "975310"},
    ).raise_for_status()

    logged = [r for r in twilio.requests() if r["path"].startswith("/twilio-verify/")]
    forms = [dict(parse_qsl(r["body"] or "", keep_blank_values=True)) for r in logged]
    secrets_seen = [
        v for f in forms for k, v in f.items() if k in ("Code", "AuthPayload", "CustomCode", "Binding.Secret")
    ]
    assert len(secrets_seen) >= 4 and all(v.startswith("[redacted ") for v in secrets_seen), secrets_seen
    assert all(r["headers"]["authorization"].startswith("Basic [redacted ") for r in logged)
    text = json.dumps(logged)
    basic = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    for value in (TWILIO_AUTH_TOKEN, basic, secret, "975310", f"Code={code}", f"AuthPayload={totp}"):
        assert value not in text, value
    assert any(f.get("To") == E164 for f in forms)  # what is not a secret stays readable for the tests
