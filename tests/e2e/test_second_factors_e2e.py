"""SecondFactorService end to end: a real sidecar process against the emulator's Authy area."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

import grpc
import pytest
from grpc_status import rpc_status

from authsidecar.v1 import auth_pb2, errors_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import wait_until

WATCH_INTERVAL = 0.2


@pytest.fixture
def factors(sidecar_factory):
    proc = sidecar_factory(
        {"authy": {"approval_poll_interval_seconds": WATCH_INTERVAL, "callback_nonce_window_seconds": 300}}
    )
    stub = factors_pb2_grpc.SecondFactorServiceStub(proc.channel)
    stub.proc = proc
    return stub


def register(factors, phone="2015550123") -> str:
    return factors.RegisterUser(
        pb.RegisterUserRequest(email="u@example.com", country="US", phone=phone), timeout=5
    ).user_id


def invalid_argument(call, request) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return err.value.details()


def verify_hits(emulator) -> int:
    return emulator.counters().get("GET /authy/protected/json/verify/{token}/{authy_id}", 0)


def test_totp_success_replay_wrong_code_and_unknown_user(factors, emulator):
    user_id = register(factors)
    code = emulator.http.get(f"/_control/authy/users/{user_id}/totp").json()["code"]
    wrong = str((int(code) + 1) % 10_000_000).zfill(7)

    assert (
        factors.VerifyTotp(pb.VerifyTotpRequest(user_id=user_id, code=wrong), timeout=5).reason
        == auth_pb2.REASON_CHALLENGE_FAILED
    )
    first = factors.VerifyTotp(pb.VerifyTotpRequest(user_id=user_id, code=code), timeout=5)
    assert first.valid and first.reason == auth_pb2.REASON_UNSPECIFIED
    hits = verify_hits(emulator)
    replay = factors.VerifyTotp(pb.VerifyTotpRequest(user_id=user_id, code=code), timeout=5)
    assert not replay.valid and replay.reason == auth_pb2.REASON_ALREADY_USED
    assert verify_hits(emulator) == hits  # the replay never reached the platform

    missing = factors.VerifyTotp(pb.VerifyTotpRequest(user_id="999999", code="1234567"), timeout=5)
    assert not missing.valid and missing.reason == auth_pb2.REASON_NOT_FOUND


def test_malformed_codes_are_refused_before_the_platform(factors, emulator):
    for code in ("", "12345", "12345678901", "12 4567", "abcdefg"):
        assert "code" in invalid_argument(factors.VerifyTotp, pb.VerifyTotpRequest(user_id="1000", code=code))
    assert "user_id" in invalid_argument(factors.VerifyTotp, pb.VerifyTotpRequest(code="1234567"))
    assert verify_hits(emulator) == 0


def test_platform_down_fails_closed(factors, emulator):
    emulator.faults(error_rate=1.0, error_status=503, path_prefix="/authy")
    answer = factors.VerifyTotp(pb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=5)
    assert not answer.valid and answer.reason == auth_pb2.REASON_UPSTREAM_UNAVAILABLE


def test_upstream_errors_carry_a_typed_detail(factors):
    with pytest.raises(grpc.RpcError) as err:
        factors.DeleteUser(pb.DeleteUserRequest(user_id="424242"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(err.value)
    detail = errors_pb2.UpstreamErrorDetail()
    assert status.details[0].Unpack(detail)
    assert detail.upstream == "authy" and detail.http_status == 404
    assert detail.message == "User not found." and json.loads(detail.body)["error_code"] == "60026"


def test_register_status_and_delete_user(factors, emulator):
    user_id = register(factors)
    status = factors.GetUserStatus(pb.GetUserStatusRequest(user_id=user_id), timeout=5)
    # `registered`: the user has the Authy app (authy-client's mock: registered false, devices listed).
    assert status.confirmed and not status.registered and not status.has_hard_token
    assert status.country_code == "1" and status.phone_number.endswith("0123")
    emulator.http.post(f"/_control/authy/users/{user_id}/app", json={"installed": True}).raise_for_status()
    status = factors.GetUserStatus(pb.GetUserStatusRequest(user_id=user_id), timeout=5)
    assert status.registered and list(status.devices) == ["android"]
    factors.DeleteUser(pb.DeleteUserRequest(user_id=user_id), timeout=5)
    with pytest.raises(grpc.RpcError) as err:
        factors.GetUserStatus(pb.GetUserStatusRequest(user_id=user_id), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_push_approval_is_created_read_and_watched_until_approved(factors, emulator):
    user_id = register(factors)
    approval_id = factors.CreateApprovalRequest(
        pb.CreateApprovalRequestRequest(
            user_id=user_id,
            message="Login to Bank?",
            visible_details={"Account": "981266321"},
            hidden_details={"ip": "10.0.0.1"},
            ttl_seconds=120,
        ),
        timeout=5,
    ).id
    created = emulator.http.get("/_control/authy/approvals/last").json()
    assert created["uuid"] == approval_id and created["details"] == {"Account": "981266321"}
    assert created["hidden_details"] == {"ip": "10.0.0.1"}
    assert (
        factors.GetApprovalRequest(pb.GetApprovalRequestRequest(id=approval_id), timeout=5).status
        == pb.APPROVAL_STATUS_PENDING
    )

    seen: list[int] = []
    started = time.monotonic()
    watcher = threading.Thread(
        target=lambda: seen.extend(
            m.status for m in factors.WatchApprovalRequest(pb.WatchApprovalRequestRequest(id=approval_id), timeout=10)
        )
    )
    watcher.start()
    wait_until(lambda: seen, timeout=10, what="the watch's first message")
    time.sleep(1.0)
    emulator.http.post(f"/_control/authy/approvals/{approval_id}", json={"status": "approved"}).raise_for_status()
    watcher.join(10)
    elapsed = time.monotonic() - started
    assert not watcher.is_alive()
    assert seen == [pb.APPROVAL_STATUS_PENDING, pb.APPROVAL_STATUS_APPROVED]
    polls = emulator.counters()["GET /authy/onetouch/json/approval_requests/{uuid}"] - 1  # minus the Get above
    assert 2 <= polls <= elapsed / WATCH_INTERVAL + 2  # never faster than the configured interval


def test_watch_ends_on_expiry_and_on_the_callers_deadline(factors, emulator):
    user_id = register(factors)
    short = factors.CreateApprovalRequest(
        pb.CreateApprovalRequestRequest(user_id=user_id, message="quick", ttl_seconds=1), timeout=5
    ).id
    statuses = [m.status for m in factors.WatchApprovalRequest(pb.WatchApprovalRequestRequest(id=short), timeout=10)]
    assert statuses == [pb.APPROVAL_STATUS_PENDING, pb.APPROVAL_STATUS_EXPIRED]

    long = factors.CreateApprovalRequest(pb.CreateApprovalRequestRequest(user_id=user_id, message="slow"), timeout=5).id
    received = []
    with pytest.raises(grpc.RpcError) as err:
        for m in factors.WatchApprovalRequest(pb.WatchApprovalRequestRequest(id=long), timeout=0.8):
            received.append(m.status)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and received == [pb.APPROVAL_STATUS_PENDING]
    hits = emulator.counters()["GET /authy/onetouch/json/approval_requests/{uuid}"]
    time.sleep(3 * WATCH_INTERVAL)
    assert emulator.counters()["GET /authy/onetouch/json/approval_requests/{uuid}"] <= hits + 1  # polling stopped

    with pytest.raises(grpc.RpcError) as err:
        list(factors.WatchApprovalRequest(pb.WatchApprovalRequestRequest(id="no-such-request"), timeout=5))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


URL = "https://app.example.com/authy/callback"
PARAMS = {
    "approval_request": {"status": "approved", "uuid": "u-1", "transaction": {"details": {"x": "1"}}},
    "callback_action": "approval_request_status",
    "authy_id": 1635,
}
FLAT = {
    "approval_request[status]": "approved",
    "approval_request[uuid]": "u-1",
    "approval_request[transaction][details][x]": "1",
    "callback_action": "approval_request_status",
    "authy_id": "1635",
}


def signed(emulator, **extra) -> dict:
    return emulator.http.post("/_control/authy/callback", json={"url": URL, "params": PARAMS, **extra}).json()


def check(factors, *, params=None, body=b"", nonce, signature, url=URL, method="POST"):
    return factors.VerifyCallbackSignature(
        pb.VerifyCallbackSignatureRequest(
            method=method, url=url, params=params or {}, body=body, nonce=nonce, signature=signature
        ),
        timeout=5,
    )


def test_callback_signatures(factors, emulator):
    cb = signed(emulator)
    nonce, sig = cb["nonce"], cb["signature"]
    assert check(factors, params=FLAT, nonce=nonce, signature=sig).valid
    assert check(factors, body=json.dumps(PARAMS).encode(), nonce=nonce, signature=sig).valid
    reordered = json.dumps(dict(reversed(list(PARAMS.items())))).encode()
    assert check(factors, body=reordered, nonce=nonce, signature=sig).valid

    tampered = json.dumps({**PARAMS, "authy_id": 1636}).encode()
    assert check(factors, body=tampered, nonce=nonce, signature=sig).reason == auth_pb2.REASON_BAD_SIGNATURE
    assert check(factors, params=FLAT, nonce=str(int(nonce) - 1), signature=sig).reason == auth_pb2.REASON_BAD_SIGNATURE
    assert (
        check(factors, params=FLAT, nonce=nonce, signature=sig, url=URL + "2").reason == auth_pb2.REASON_BAD_SIGNATURE
    )

    stale = signed(emulator, nonce=str(int(time.time()) - 3600))
    answer = check(factors, params=FLAT, nonce=stale["nonce"], signature=stale["signature"])
    assert not answer.valid and answer.reason == auth_pb2.REASON_EXPIRED
    assert "nonce" in invalid_argument(
        factors.VerifyCallbackSignature, pb.VerifyCallbackSignatureRequest(method="POST", url=URL, signature=sig)
    )
    assert "body" in invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(method="POST", url=URL, nonce=nonce, signature=sig, body=b"\xff\xfe"),
    )


def test_phone_verification_start_check_and_replay(factors, emulator):
    started = factors.StartPhoneVerification(
        pb.StartPhoneVerificationRequest(
            country="US", phone="(201) 555-0123", via=pb.VERIFICATION_VIA_SMS, locale="en", code_length=6
        ),
        timeout=5,
    )
    assert started.seconds_to_expire > 0 and "+1 2015550123" in started.message
    sent = emulator.http.get("/_control/authy/phones/last").json()
    assert sent["country_code"] == "1" and sent["phone_number"] == "2015550123" and len(sent["code"]) == 6
    wrong = str((int(sent["code"]) + 1) % 1_000_000).zfill(6)

    def check_code(code: str, country: str = "1"):
        return factors.CheckPhoneVerification(
            pb.CheckPhoneVerificationRequest(country=country, phone="2015550123", code=code), timeout=5
        )

    assert check_code(wrong).reason == auth_pb2.REASON_CHALLENGE_FAILED
    assert check_code(sent["code"], country="+1").valid
    assert check_code(sent["code"], country="US").reason == auth_pb2.REASON_ALREADY_USED
    none_pending = factors.CheckPhoneVerification(
        pb.CheckPhoneVerificationRequest(country="PT", phone="911234567", code="1234"), timeout=5
    )
    assert none_pending.reason == auth_pb2.REASON_NOT_FOUND


PHONE_PROBLEMS = [
    ({"country": "", "phone": "2015550123"}, "country"),
    ({"country": "ZZ", "phone": "2015550123"}, "country"),
    ({"country": "999", "phone": "2015550123"}, "country"),
    ({"country": "US", "phone": "12"}, "phone"),
    ({"country": "US", "phone": "not a phone"}, "phone"),
    ({"country": "US", "phone": "+351911234567"}, "phone"),
    ({"country": "US", "phone": "2015550123", "code_length": 3}, "code_length"),
    ({"country": "US", "phone": "2015550123", "code_length": 11}, "code_length"),
]


def test_phone_validation_errors_never_reach_the_platform(factors, emulator):
    for fields, field in PHONE_PROBLEMS:
        detail = invalid_argument(factors.StartPhoneVerification, pb.StartPhoneVerificationRequest(**fields))
        assert detail.startswith(field), (fields, detail)
    for fields, field in [
        ({"country": "US", "phone": "12", "code": "1234"}, "phone"),
        ({"country": "US", "phone": "2015550123", "code": "12"}, "code"),
        ({"country": "US", "phone": "2015550123", "code": "12345678901"}, "code"),
        ({"country": "XX", "phone": "2015550123", "code": "1234"}, "country"),
    ]:
        detail = invalid_argument(factors.CheckPhoneVerification, pb.CheckPhoneVerificationRequest(**fields))
        assert detail.startswith(field), (fields, detail)
    assert not any("/phones/" in k for k in emulator.counters())


def test_request_sms_and_call_send_the_current_code_unless_the_user_has_the_app(factors, emulator):
    user_id = register(factors)
    sms = factors.RequestSms(
        pb.RequestSmsRequest(user_id=user_id, action="login", action_message="Your code"), timeout=5
    )
    assert not sms.ignored and sms.message == "SMS token was sent" and sms.cellphone.endswith("23")
    sent = emulator.http.get("/_control/authy/tokens/last").json()
    assert (sent["via"], sent["action"], sent["action_message"], sent["force"]) == ("sms", "login", "Your code", False)
    assert factors.VerifyTotp(pb.VerifyTotpRequest(user_id=user_id, code=sent["code"]), timeout=5).valid

    emulator.http.post(f"/_control/authy/users/{user_id}/app", json={"installed": True}).raise_for_status()
    skipped = factors.RequestCall(pb.RequestCallRequest(user_id=user_id), timeout=5)
    assert skipped.ignored and skipped.device == "android" and "force" in skipped.message
    assert emulator.http.get("/_control/authy/tokens/last").json()["code"] == ""
    forced = factors.RequestCall(pb.RequestCallRequest(user_id=user_id, force=True), timeout=5)
    assert not forced.ignored and forced.message == "Call started..."
    assert emulator.http.get("/_control/authy/tokens/last").json()["via"] == "call"

    with pytest.raises(grpc.RpcError) as err:
        factors.RequestSms(pb.RequestSmsRequest(user_id="424242"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert invalid_argument(factors.RequestSms, pb.RequestSmsRequest(user_id=user_id, action="x" * 256)).startswith(
        "action"
    )
    assert invalid_argument(factors.RequestCall, pb.RequestCallRequest()).startswith("user_id")


def test_callbacks_with_spaces_arrays_and_mixed_case_keys_verify(factors, emulator):
    """What core/factors/callbacks.py wrote as %20 and [0] before: the platform signs `+` and `key[]`."""
    params = {
        "approval_request": {
            "transaction": {
                "message": "Login to Bank of Example",
                "details": {"Account Number": "98 12", "Zone": "EU"},
                "logos": [{"res": "default", "url": "https://x/a b.png"}],
            }
        },
        "authy_id": 1635,
        "callback_action": "approval_request_status",
        "devices": ["a", "b", "c"],
        "status": "approved",
        "uuid": "u-1",
    }
    cb = emulator.http.post("/_control/authy/callback", json={"url": URL, "params": params}).json()
    assert check(factors, body=json.dumps(params).encode(), nonce=cb["nonce"], signature=cb["signature"]).valid
    flat = {
        "approval_request[transaction][message]": "Login to Bank of Example",
        "approval_request[transaction][details][Account Number]": "98 12",
        "approval_request[transaction][details][Zone]": "EU",
        "approval_request[transaction][logos][0][res]": "default",
        "approval_request[transaction][logos][0][url]": "https://x/a b.png",
        "authy_id": "1635",
        "callback_action": "approval_request_status",
        "devices[0]": "a",
        "devices[1]": "b",
        "devices[2]": "c",
        "status": "approved",
        "uuid": "u-1",
    }
    assert check(factors, params=flat, nonce=cb["nonce"], signature=cb["signature"]).valid


def test_hostile_callback_input_is_invalid_argument_never_internal(factors, emulator):
    """Issue 16 #11: a body nested 1,000 deep and a params map of 290,000 entries."""
    cb = signed(emulator)
    deep = b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert "deeper" in invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=URL, nonce=cb["nonce"], signature=cb["signature"], body=deep
        ),
    )
    # 290,000 entries (3.6 MB) never reach the handler: gRPC refuses a message over the receive limit
    # (issue 24 row 2); a map that fits the message but not the entry bound is refused by the field check.
    huge = {str(i): "v" for i in range(290_000)}
    with pytest.raises(grpc.RpcError) as err:
        factors.VerifyCallbackSignature(
            pb.VerifyCallbackSignatureRequest(
                method="POST", url=URL, nonce=cb["nonce"], signature=cb["signature"], params=huge
            ),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    many = {str(i): "v" for i in range(1_500)}
    detail = invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=URL, nonce=cb["nonce"], signature=cb["signature"], params=many
        ),
    )
    assert detail.startswith("params") and "1000 entries" in detail
    for params, field in [
        ({"k" * 257: "v"}, "params"),
        ({"k": "v" * 8193}, "params[k]"),
        ({"a" + "[b]" * 40: "v"}, "params"),
    ]:
        detail = invalid_argument(
            factors.VerifyCallbackSignature,
            pb.VerifyCallbackSignatureRequest(
                method="POST", url=URL, nonce=cb["nonce"], signature=cb["signature"], params=params
            ),
        )
        assert detail.startswith(field), detail
    assert "body" in invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=URL, nonce=cb["nonce"], signature=cb["signature"], body=b"x" * (64 * 1024 + 1)
        ),
    )
    # The sidecar still answers genuine callbacks afterwards.
    assert check(factors, params=FLAT, nonce=cb["nonce"], signature=cb["signature"]).valid


DENIED = {
    "callback_action": "approval_request_status",
    "status": "denied",
    "uuid": "u-1",
    "authy_id": "1635",
    "approval_request": {"status": "denied"},
}


@pytest.mark.parametrize(
    "body",
    [
        # JSON: json.loads keeps the last member (denied, which is what was signed); a first-wins app reads approved.
        lambda p: ('{"status":"approved",' + json.dumps(p)[1:]).encode(),
        lambda p: ('{"approval_request":{"status":"approved"},' + json.dumps(p)[1:]).encode(),
        # Form: the same with Go's FormValue, Werkzeug or parse_qs()[0] reading the first of two keys.
        lambda p: ("status=approved&" + urllib.parse.urlencode(_flat(p))).encode(),
        lambda p: ("approval_request%5Bstatus%5D=approved&" + urllib.parse.urlencode(_flat(p))).encode(),
    ],
    ids=["json", "json-nested", "form", "form-bracketed"],
)
def test_row14_duplicate_keys_in_signed_callback_refused(factors, emulator, body):
    """A captured status=denied callback, signed with the real key, with status=approved prepended."""
    cb = emulator.http.post("/_control/authy/callback", json={"url": URL, "params": DENIED}).json()
    genuine = json.dumps(DENIED).encode()
    assert check(factors, body=genuine, nonce=cb["nonce"], signature=cb["signature"]).valid
    assert check(
        factors, body=urllib.parse.urlencode(_flat(DENIED)).encode(), nonce=cb["nonce"], signature=cb["signature"]
    ).valid
    detail = invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=URL, body=body(DENIED), nonce=cb["nonce"], signature=cb["signature"]
        ),
    )
    assert detail.startswith("body: repeats the key"), detail


def _flat(params: dict) -> dict:
    return {
        (f"{k}[{sub}]" if isinstance(v, dict) else k): (sv if isinstance(v, dict) else v)
        for k, v in params.items()
        for sub, sv in (v.items() if isinstance(v, dict) else [(None, v)])
    }


def test_row13_empty_containers_count_against_the_node_bound(factors, emulator):
    """63 KB of `[]`, signed with the real key: 0 values, 21,000 nodes — refused before it is signed again."""
    params = {"callback_action": "approval_request_status", "a": [[] for _ in range(21_000)]}
    cb = emulator.http.post("/_control/authy/callback", json={"url": URL, "params": params}, timeout=30).json()
    body = json.dumps(params, separators=(",", ":")).encode()
    assert 60_000 < len(body) <= 64 * 1024
    detail = invalid_argument(
        factors.VerifyCallbackSignature,
        pb.VerifyCallbackSignatureRequest(
            method="POST", url=URL, body=body, nonce=cb["nonce"], signature=cb["signature"]
        ),
    )
    assert detail.startswith("body") and "4000 nodes" in detail
    # A body within the bound, signed the same way, still verifies.
    small = {"callback_action": "approval_request_status", "a": [[] for _ in range(100)]}
    cb = emulator.http.post("/_control/authy/callback", json={"url": URL, "params": small}).json()
    assert check(factors, body=json.dumps(small).encode(), nonce=cb["nonce"], signature=cb["signature"]).valid
