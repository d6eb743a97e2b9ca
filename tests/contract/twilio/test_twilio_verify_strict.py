"""The emulated Verify v2 refuses what neither twilio SDK sends, in Twilio's error shape, so it cannot hide an
adapter bug: bad credentials, other encodings, unknown or repeated keys, over-long and malformed values,
duplicate JSON keys in HiddenDetails, and it carries the limits and faults the adapter must map."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time
from urllib.parse import urlencode

import httpx
import pytest

from sidecar.emulator.credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)

SERVICE = f"/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}"
AUTH = (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
IDENTITY = "strict-user-0001"


@pytest.fixture
def api(emulator):
    emulator.http.post("/_control/twilio-verify/reset").raise_for_status()
    with httpx.Client(base_url=emulator.url, auth=AUTH, timeout=10) as client:
        yield client
    emulator.http.post("/_control/twilio-verify/reset").raise_for_status()


def error(answer: httpx.Response, status: int, code: int) -> str:
    body = answer.json()
    assert (answer.status_code, body["code"], body["status"]) == (status, code, status), body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return body["message"]


def start(api: httpx.Client, to: str = "+14155550301") -> dict:
    answer = api.post(f"{SERVICE}/Verifications", data={"To": to, "Channel": "sms"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def code_of(emulator, verification_sid: str) -> str:
    return emulator.http.get(f"/_control/twilio-verify/verifications/{verification_sid}").json()["code"]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        (TWILIO_ACCOUNT_SID, "wrong"),
        (TWILIO_API_KEY_SID, TWILIO_AUTH_TOKEN),  # a key SID with the account's token
        ("AC" + "0" * 32, TWILIO_AUTH_TOKEN),
        (TWILIO_ACCOUNT_SID, ""),
    ],
)
def test_credentials_other_than_the_accounts_or_the_keys_are_20003(api, auth):
    answer = api.post(f"{SERVICE}/Verifications", data={"To": "+14155550301", "Channel": "sms"}, auth=auth)
    assert error(answer, 401, 20003) == "Authenticate"
    assert answer.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!notbase64", "Basic " + "QUM=", "Digest x"])
def test_a_malformed_authorization_header_is_20003(api, header):
    answer = api.get(f"{SERVICE}/Verifications/VE{'0' * 32}", headers={"Authorization": header}, auth=None)
    error(answer, 401, 20003)


def test_the_api_key_authenticates(api):
    answer = api.post(
        f"{SERVICE}/Verifications",
        data={"To": "+14155550301", "Channel": "sms"},
        auth=(TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET),
    )
    assert answer.status_code == 201


def test_bodies_the_sdks_never_send_are_refused(api):
    url = f"{SERVICE}/Verifications"
    error(api.post(url, json={"To": "+14155550301", "Channel": "sms"}), 400, 60200)  # JSON, not a form
    error(api.post(url, data={"To": "+14155550301", "Channel": "sms", "Foo": "1"}), 400, 20001)
    error(api.post(url, data={"to": "+14155550301", "channel": "sms"}), 400, 20001)  # snake_case keys
    repeated = "To=%2B14155550301&To=%2B14155550302&Channel=sms"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert "more than once" in error(api.post(url, content=repeated, headers=headers), 400, 60200)
    error(api.post(url, content=b"To=%ff%fe&Channel=sms", headers=headers), 400, 60200)  # not UTF-8
    error(api.post(url, content=b"x" * 70_000, headers=headers), 400, 60200)  # over the body bound
    error(api.post(url, data={"Channel": "sms"}), 400, 60200)  # To is required
    error(api.get(f"{url}/VE{'0' * 32}?Status=approved"), 400, 20001)  # fetches carry no query


@pytest.mark.parametrize(
    "fields",
    [
        {"To": "+1415555030", "Channel": "fax"},
        {"To": "14155550301", "Channel": "sms"},
        {"To": "+1" + "5" * 20, "Channel": "sms"},
        {"To": "not-an-email", "Channel": "email"},
        {"To": "+14155550301", "Channel": "sms", "CustomCode": "12"},
        {"To": "+14155550301", "Channel": "sms", "CustomCode": "12 34"},
        {"To": "+14155550301", "Channel": "sms", "Locale": "english please"},
        {"To": "+14155550301", "Channel": "sms", "CustomFriendlyName": "x" * 5000},
    ],
)
def test_bad_verification_values_are_60200(api, fields):
    error(api.post(f"{SERVICE}/Verifications", data=fields), 400, 60200)


def test_checks_name_the_verification_one_way_with_a_code_of_4_to_10(api):
    v = start(api)
    check = f"{SERVICE}/VerificationCheck"
    error(api.post(check, data={"Code": "123456"}), 400, 60200)
    error(api.post(check, data={"Code": "123456", "To": v["to"], "VerificationSid": v["sid"]}), 400, 60200)
    error(api.post(check, data={"Code": "1" * 11, "To": v["to"]}), 400, 60200)
    error(api.post(check, data={"Code": "123", "To": v["to"]}), 400, 60200)
    error(api.post(check, data={"Code": "123456", "To": "+14155550399"}), 404, 20404)
    error(api.post(check, data={"Code": "123456", "VerificationSid": "VE" + "0" * 32}), 404, 20404)


def test_an_expired_verification_is_gone(api, emulator):
    v = start(api)
    emulator.http.post(f"/_control/twilio-verify/verifications/{v['sid']}/expire").raise_for_status()
    answer = api.post(
        f"{SERVICE}/VerificationCheck", data={"Code": code_of(emulator, v["sid"]), "VerificationSid": v["sid"]}
    )
    error(answer, 404, 20404)
    assert api.get(f"{SERVICE}/Verifications/{v['sid']}").json()["status"] == "expired"


def test_a_rate_limit_carries_retry_after_and_then_clears(api, emulator):
    emulator.http.post("/_control/twilio-verify/faults", json={"rate_limited": 2, "retry_after": 9}).raise_for_status()
    for _ in range(2):
        answer = api.post(f"{SERVICE}/Verifications", data={"To": "+14155550301", "Channel": "sms"})
        error(answer, 429, 20429)
        assert answer.headers["retry-after"] == "9"
    assert start(api)["status"] == "pending"
    bad = emulator.http.post("/_control/twilio-verify/faults", json={"rate_limited": "lots"})
    assert bad.status_code == 400


def test_the_not_one_time_fault_is_cleared_by_the_global_reset(api, emulator):
    v = start(api)
    code = code_of(emulator, v["sid"])
    check = {"Code": code, "VerificationSid": v["sid"]}
    assert api.post(f"{SERVICE}/VerificationCheck", data=check).json()["status"] == "approved"
    emulator.http.post("/_control/twilio-verify/faults", json={"not_one_time": True}).raise_for_status()
    assert api.post(f"{SERVICE}/VerificationCheck", data=check).json()["status"] == "approved"
    by_to = {"Code": code, "To": v["to"]}
    assert api.post(f"{SERVICE}/VerificationCheck", data=by_to).json()["status"] == "approved"
    emulator.reset()
    error(api.post(f"{SERVICE}/VerificationCheck", data=by_to), 404, 20404)
    error(api.post(f"{SERVICE}/VerificationCheck", data=check), 404, 20404)


def test_the_platform_down_slow_and_huge_come_from_the_global_faults(api, emulator):
    emulator.faults(path_prefix="/twilio-verify", error_rate=1.0, error_status=503)
    assert api.get(f"{SERVICE}/Verifications/VE{'0' * 32}").status_code == 503
    emulator.faults(error_rate=0.0, huge_answer_bytes=2_000_000)
    assert len(api.get(f"{SERVICE}/Verifications/VE{'0' * 32}").content) > 2_000_000
    emulator.reset()
    assert api.get("/authy/protected/json/app/details").status_code != 503  # other areas untouched before too


def _verified_totp_factor(api: httpx.Client, emulator) -> dict:
    factor = api.post(f"{SERVICE}/Entities/{IDENTITY}/Factors", data={"FriendlyName": "f", "FactorType": "totp"})
    assert factor.status_code == 201, factor.text
    sid = factor.json()["sid"]
    code = emulator.http.get(f"/_control/twilio-verify/factors/{sid}/code").json()["code"]
    verified = api.post(f"{SERVICE}/Entities/{IDENTITY}/Factors/{sid}", data={"AuthPayload": code})
    assert verified.json()["status"] == "verified"
    return factor.json()


@pytest.mark.parametrize("identity", ["short", "x" * 65, "alice@example.com", "has space1"])
def test_an_identity_is_8_to_64_url_safe_characters(api, identity):
    answer = api.post(f"{SERVICE}/Entities/{identity}/Factors", data={"FriendlyName": "f", "FactorType": "totp"})
    error(answer, 400, 60200)


@pytest.mark.parametrize(
    "fields",
    [
        {"FactorType": "passkeys"},
        {"FactorType": "totp", "Config.Skew": "3"},
        {"FactorType": "totp", "Config.CodeLength": "9"},
        {"FactorType": "totp", "Config.TimeStep": "10"},
        {"FactorType": "totp", "Config.Alg": "md5"},
        {"FactorType": "totp", "Binding.Secret": "not base32!"},
        {"FactorType": "totp", "Config.AppId": "com.example"},
        {"FactorType": "push", "Binding.Alg": "RS256"},
        {"FactorType": "totp", "Metadata": '{"os": "a", "os": "b"}'},
        {"FactorType": "totp", "Metadata": '{"n": 1}'},
    ],
)
def test_bad_factor_fields_are_60200(api, fields):
    answer = api.post(f"{SERVICE}/Entities/{IDENTITY}/Factors", data={"FriendlyName": "f", **fields})
    error(answer, 400, 60200)


def test_a_given_totp_secret_is_used_and_codes_are_rfc_6238(api):
    # RFC 6238 appendix B's SHA1 key; the code for "now" is checked against hotp computed here from RFC 4226.
    key = b"12345678901234567890"
    secret = base64.b32encode(key).decode()
    made = api.post(
        f"{SERVICE}/Entities/{IDENTITY}/Factors",
        data={"FriendlyName": "rfc", "FactorType": "totp", "Binding.Secret": secret, "Config.CodeLength": "8"},
    ).json()
    assert made["binding"]["secret"] == secret.rstrip("=")
    mac = hmac.new(key, struct.pack(">Q", int(time.time() // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = str((struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**8).zfill(8)
    verified = api.post(f"{SERVICE}/Entities/{IDENTITY}/Factors/{made['sid']}", data={"AuthPayload": code})
    assert verified.json()["status"] == "verified"


@pytest.mark.parametrize(
    "fields",
    [
        {"HiddenDetails": '{"ip": "1.2.3.4", "ip": "5.6.7.8"}'},  # duplicate keys: which one did you sign?
        {"HiddenDetails": '{"ip": 1}'},
        {"HiddenDetails": "[1]"},
        {"HiddenDetails": json.dumps({"k": "v" * 1100})},
        {"Details.Fields": '{"label": "a"}'},
        {"Details.Fields": '{"label": "a", "value": "b", "x": "c"}'},
        {"Details.Fields": json.dumps({"label": "a" * 37, "value": "b"})},
        {"Details.Message": "m" * 257},
        {"ExpirationDate": "tomorrow"},
        {"ExpirationDate": "2020-01-01T00:00:00Z"},
        {"ExpirationDate": "2099-01-01T00:00:00"},  # no zone
    ],
)
def test_bad_push_challenge_fields_are_60200(api, emulator, fields):
    push = api.post(
        f"{SERVICE}/Entities/{IDENTITY}/Factors",
        data={
            "FriendlyName": "p",
            "FactorType": "push",
            "Binding.Alg": "ES256",
            "Binding.PublicKey": "AAAA",
            "Config.AppId": "a",
            "Config.NotificationPlatform": "none",
            "Config.SdkVersion": "1",
        },
    ).json()
    emulator.http.post(f"/_control/twilio-verify/factors/{push['sid']}/verify").raise_for_status()
    base = {"FactorSid": push["sid"], "Details.Message": "ok?"}
    answer = api.post(f"{SERVICE}/Entities/{IDENTITY}/Challenges", data={**base, **fields})
    error(answer, 400, 60200)


def test_twenty_one_fields_are_too_many(api, emulator):
    factor = _verified_totp_factor(api, emulator)
    fields = [("Details.Fields", json.dumps({"label": f"l{i}", "value": "v"})) for i in range(21)]
    body = urlencode([("FactorSid", factor["sid"]), *fields])
    headers = {"content-type": "application/x-www-form-urlencoded"}
    answer = api.post(f"{SERVICE}/Entities/{IDENTITY}/Challenges", content=body, headers=headers)
    error(answer, 400, 60200)


def test_a_factor_of_another_entity_is_not_found(api, emulator):
    factor = _verified_totp_factor(api, emulator)
    answer = api.get(f"{SERVICE}/Entities/other-user-0002/Factors/{factor['sid']}")
    error(answer, 404, 20404)
    answer = api.post(f"{SERVICE}/Entities/other-user-0002/Challenges", data={"FactorSid": factor["sid"]})
    error(answer, 404, 20404)
