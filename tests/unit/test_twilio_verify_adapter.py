"""The Twilio Verify adapter over httpx.MockTransport: the requests it sends (as twilio-python 9.3.7
sends them: Basic auth, form-urlencoded PascalCase keys) and how Twilio's error codes come out.
End to end against the emulator: tests/e2e/test_verify_e2e.py."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, parse_qsl

import httpx
import pytest

from sidecar.config.settings import VerifySettings
from sidecar.core.factors.records import ApprovalDraft, ApprovalStatus, PhoneNumber, TokenRequest
from sidecar.core.factors.second_factors import SecondFactors
from sidecar.core.shared.outcomes import InvalidArgument, NotConfigured, Reason, UpstreamError, UpstreamLimited
from sidecar.upstream.twilio_verify import TwilioVerifyClient, identity_for

ACCOUNT, TOKEN, SERVICE = "AC" + "a" * 32, "tok", "VA" + "b" * 32
KEY, SECRET = "SK" + "c" * 32, "sec"
PHONE = PhoneNumber(1, "4155552671")
FACTOR, CHALLENGE = "YF" + "d" * 32, "YC" + "e" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(handler, clock=None, **settings) -> TwilioVerifyClient:
    s = VerifySettings(
        base_url="https://verify.test", account_sid=ACCOUNT, auth_token=TOKEN, service_sid=SERVICE, **settings
    )
    return TwilioVerifyClient(s, transport=httpx.MockTransport(handler), clock=clock or Clock())


def recorder(answers):
    """A handler answering from `answers` (a callable of the request or a fixed (status, json)), keeping requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answers(request) if callable(answers) else answers
        return httpx.Response(status, json=body)

    return seen, handler


def form(request: httpx.Request) -> list[tuple[str, str]]:
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def basic(request: httpx.Request) -> str:
    scheme, _, value = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


async def test_phone_verification_is_verifications_then_verification_check():
    seen, handler = recorder(
        lambda r: (
            (201, {"sid": "VE1", "status": "pending", "channel": "call", "lookup": {"carrier": {"type": "mobile"}}})
            if r.url.path.endswith("/Verifications")
            else (200, {"status": "approved", "valid": True})
        )
    )
    c = client(handler)
    started = await c.start_phone_verification(PHONE, "call", "pt-BR", 0)
    assert started.is_cellphone and started.seconds_to_expire == 600 and "call" in started.message
    assert await c.check_phone_verification(PHONE, "123456")
    create, check = seen
    assert (create.method, create.url.path) == ("POST", f"/v2/Services/{SERVICE}/Verifications")
    assert form(create) == [("To", "+14155552671"), ("Channel", "call"), ("Locale", "pt-BR")]
    assert (check.method, check.url.path) == ("POST", f"/v2/Services/{SERVICE}/VerificationCheck")
    assert form(check) == [("To", "+14155552671"), ("Code", "123456")]
    assert basic(create) == f"{ACCOUNT}:{TOKEN}" and create.headers["accept"] == "application/json"


async def test_a_wrong_code_is_an_answer_and_code_length_is_the_services():
    _, handler = recorder((200, {"status": "pending", "valid": False}))
    assert await client(handler).check_phone_verification(PHONE, "000000") is False
    with pytest.raises(InvalidArgument) as err:
        await client(handler).start_phone_verification(PHONE, "sms", "", 6)
    assert err.value.field == "code_length"


async def test_an_api_key_replaces_the_account_in_basic_auth():
    seen, handler = recorder((200, {"sid": SERVICE}))
    assert (await client(handler, api_key_sid=KEY, api_key_secret=SECRET).health()).healthy
    assert basic(seen[0]) == f"{KEY}:{SECRET}" and seen[0].url.path == f"/v2/Services/{SERVICE}"


async def test_request_sms_needs_a_phone_and_masks_it():
    seen, handler = recorder((201, {"status": "pending"}))
    with pytest.raises(InvalidArgument) as err:
        await client(handler).request_token(TokenRequest("u1", "sms"))
    assert err.value.field == "phone" and not seen
    sent = await client(handler).request_token(TokenRequest("u1", "sms", phone=PHONE))
    assert sent.cellphone == "+1-XXX-XX71" and "4155552671" not in sent.cellphone
    assert dict(form(seen[0])) == {"To": "+14155552671", "Channel": "sms"}


def factors_then(status: str, factor_type: str = "totp"):
    def answer(r: httpx.Request):
        if r.method == "GET" and r.url.path.endswith("/Factors"):
            return 200, {
                "factors": [
                    {"sid": "YF" + "0" * 32, "factor_type": factor_type, "status": "unverified"},
                    {"sid": FACTOR, "factor_type": factor_type, "status": "verified"},
                ]
            }
        return 201, {"sid": CHALLENGE, "status": status}

    return answer


async def test_totp_is_a_challenge_on_the_verified_factor_of_the_hashed_identity():
    seen, handler = recorder(factors_then("approved"))
    assert await client(handler).verify_token("alice@example.com", "123456", False)
    identity = identity_for("alice@example.com")
    assert len(identity) == 64 and "alice" not in identity
    listed, challenged = seen
    assert listed.url.path == f"/v2/Services/{SERVICE}/Entities/{identity}/Factors" and not listed.url.query
    assert challenged.url.path == f"/v2/Services/{SERVICE}/Entities/{identity}/Challenges"
    assert form(challenged) == [("FactorSid", FACTOR), ("AuthPayload", "123456")]
    seen, handler = recorder(factors_then("pending"))
    assert await client(handler).verify_token("alice@example.com", "000000", False) is False


async def test_no_verified_factor_is_not_found():
    _, handler = recorder((200, {"factors": []}))
    with pytest.raises(UpstreamError) as err:
        await client(handler).verify_token("u1", "123456", False)
    assert err.value.status == 404 and "no verified totp factor" in err.value.message


async def test_push_approval_is_a_challenge_with_details_and_the_id_carries_the_identity():
    seen, handler = recorder(factors_then("pending", "push"))
    c = client(handler)
    approval_id = await c.create_approval(
        ApprovalDraft("u1", "Log in?", {"IP": "10.0.0.1", "City": "Lisbon"}, {"k": "v"}, 120)
    )
    assert approval_id == f"{CHALLENGE}.{identity_for('u1')}"
    sent = form(seen[1])
    keys = [k for k, _ in sent]
    assert keys == [
        "FactorSid",
        "ExpirationDate",
        "Details.Message",
        "Details.Fields",
        "Details.Fields",
        "HiddenDetails",
    ]
    values = parse_qs(seen[1].content.decode())
    assert [json.loads(v) for v in values["Details.Fields"]] == [
        {"label": "IP", "value": "10.0.0.1"},
        {"label": "City", "value": "Lisbon"},
    ]
    assert json.loads(values["HiddenDetails"][0]) == {"k": "v"}
    assert values["ExpirationDate"][0].endswith("Z") and "T" in values["ExpirationDate"][0]
    seen.clear()
    _, handler = recorder((200, {"sid": CHALLENGE, "status": "approved"}))
    assert await client(handler).approval_status(approval_id) is ApprovalStatus.APPROVED
    with pytest.raises(InvalidArgument) as err:
        await client(handler).approval_status("not-an-id")
    assert err.value.field == "id"


async def test_enrol_and_confirm_totp():
    seen, handler = recorder(
        lambda r: (
            (201, {"sid": FACTOR, "status": "unverified", "binding": {"secret": "ABC", "uri": "otpauth://totp/x"}})
            if r.url.path.endswith("/Factors")
            else (200, {"sid": FACTOR, "status": "verified"})
        )
    )
    c = client(handler)
    enrolled = await c.enrol_totp("u1", "Acme")
    assert (enrolled.factor_id, enrolled.binding_uri, enrolled.secret) == (FACTOR, "otpauth://totp/x", "ABC")
    assert form(seen[0]) == [("FriendlyName", "Acme"), ("FactorType", "totp")]
    assert await c.confirm_totp("u1", FACTOR, "123456")
    assert seen[1].url.path.endswith(f"/Factors/{FACTOR}") and form(seen[1]) == [("AuthPayload", "123456")]


async def test_users_are_entities():
    seen, handler = recorder(lambda r: (204, None) if r.method == "DELETE" else (404, {"code": 20404, "status": 404}))
    c = client(handler)
    await c.delete_user("u1")
    assert (seen[0].method, seen[0].url.path) == ("DELETE", f"/v2/Services/{SERVICE}/Entities/{identity_for('u1')}")
    status = await c.user_status("u1")
    assert not status.registered and status.user_id == "u1"
    with pytest.raises(NotConfigured, match="EnrollTotp"):
        await c.register_user("a@b.c", PHONE)


@pytest.mark.parametrize(
    ("http_status", "code", "expected"),
    [
        (429, 60202, "max check attempts"),
        (429, 60203, "max send attempts"),
        (429, 60212, "too many concurrent"),
    ],
)
async def test_attempt_limits_are_limits_not_outages(http_status, code, expected):
    _, handler = recorder((http_status, {"code": code, "message": "for +14155552671", "status": http_status}))
    with pytest.raises(UpstreamLimited) as err:
        await client(handler).check_phone_verification(PHONE, "123456")
    assert expected in err.value.message and not err.value.unavailable
    assert "+1415" not in err.value.message  # Twilio's message may echo the phone: ours is said instead


async def test_20429_holds_every_call_for_retry_after_without_hammering():
    clock = Clock()
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(429, headers={"Retry-After": "7"}, json={"code": 20429, "status": 429})

    c = client(handler, clock)
    for _ in range(3):
        with pytest.raises(UpstreamLimited, match="retry after") as err:
            await c.check_phone_verification(PHONE, "123456")
    assert len(seen) == 1 and err.value.retry_after == pytest.approx(7)
    clock.now += 7.5
    with pytest.raises(UpstreamLimited):
        await c.check_phone_verification(PHONE, "123456")
    assert len(seen) == 2


async def test_retry_after_is_bounded():
    for header, expected in (("1e9", 60), ("nan", 1), ("soon", 1), ("-5", 1)):
        c = client(lambda r, h=header: httpx.Response(429, headers={"Retry-After": h}, json={"code": 20429}))
        with pytest.raises(UpstreamLimited) as err:
            await c.check_phone_verification(PHONE, "123456")
        assert err.value.retry_after == expected


@pytest.mark.parametrize(
    ("http_status", "body", "status", "unavailable"),
    [
        (401, {"code": 20003, "message": "Authenticate"}, 502, True),  # our credentials: an outage, fail closed
        (404, {"code": 20404, "message": "not found"}, 404, False),
        (400, {"code": 60200, "message": "Invalid parameter `To`: +1415"}, 400, False),
        (503, {}, 503, True),
    ],
)
async def test_error_codes_map_once(http_status, body, status, unavailable):
    _, handler = recorder((http_status, body))
    with pytest.raises(UpstreamError) as err:
        await client(handler).check_phone_verification(PHONE, "123456")
    assert err.value.status == status and err.value.unavailable is unavailable
    assert "+1415" not in err.value.message


async def test_a_huge_answer_is_a_clear_failure():
    c = client(lambda r: httpx.Response(200, content=b'{"a":"' + b"x" * 1_100_000 + b'"}'))
    with pytest.raises(UpstreamError) as err:
        await c.check_phone_verification(PHONE, "123456")
    assert err.value.status == 0 and "larger than 1048576 bytes" in err.value.message


async def test_the_core_turns_limits_into_blocked_and_outages_into_unavailable():
    _, limited = recorder((429, {"code": 60202}))
    v = await SecondFactors(client(limited), breaker="verify").check_phone(PHONE, "123456")
    assert not v.valid and v.reason is Reason.BLOCKED and "max check attempts" in v.detail
    _, gone = recorder((401, {"code": 20003}))
    v = await SecondFactors(client(gone), breaker="verify").check_phone(PHONE, "123456")
    assert not v.valid and v.reason is Reason.UPSTREAM_UNAVAILABLE
    _, missing = recorder((404, {"code": 20404}))
    v = await SecondFactors(client(missing), breaker="verify").check_phone(PHONE, "123456")
    assert not v.valid and v.reason is Reason.NOT_FOUND


async def test_a_given_factor_id_skips_the_lookup_and_is_checked_first():
    seen, handler = recorder((201, {"sid": CHALLENGE, "status": "approved"}))
    c = client(handler)
    assert await c.verify_token("u1", "123456", False, FACTOR)
    assert len(seen) == 1 and form(seen[0]) == [("FactorSid", FACTOR), ("AuthPayload", "123456")]
    assert (await c.create_approval(ApprovalDraft("u1", "Log in?", factor_id=FACTOR))).startswith(CHALLENGE)
    assert len(seen) == 2
    for bad in ("YF../../Entities", "YC" + "e" * 32, "yf" + "d" * 32):
        with pytest.raises(InvalidArgument) as err:
            await c.verify_token("u1", "123456", False, bad)
        assert err.value.field == "factor_id"
    assert len(seen) == 2
