"""@authsignal/node 2.21.0 (installed from npm) against the emulator, and the sidecar's adapter beside it.

1. drive.js runs every call the sidecar relies on plus those seed README 001 shows through the real
   SDK (base URL via its own `apiUrl` option); each parsed result is asserted here.
2. For each operation upstream/authsignal.py performs, the SDK's request and the adapter's request for
   the same inputs (both recorded whole by the emulator) must agree on method, path, auth, the
   X-Authsignal-Version header, content type and body.
3. The emulator refuses what the SDK never sends (no version header, a form body, an unknown field).
"""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest

from sidecar.config import ChallengeSettings
from sidecar.core.challenges.records import EnrollInput, TrackInput
from sidecar.emulator.credentials import SECRET_KEY
from sidecar.upstream.authsignal import AuthsignalClient

from .conftest import run_node

SDK = "authsignal"
BASIC = "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()


@pytest.fixture(scope="module")
def sdk(node_project):
    return node_project(SDK)


@pytest.fixture
def driven(sdk, emulator) -> dict:
    return run_node(sdk, "drive.js", emulator.url, SECRET_KEY, secrets.token_hex(4))


def value(result: dict) -> dict:
    assert result["ok"], result
    return result["value"]


def error(result: dict) -> tuple[int, str]:
    assert not result["ok"], result
    assert result["name"] == "AuthsignalError"
    return result["statusCode"], result["errorCode"]


def test_users_and_enrollment(driven):
    unknown = value(driven["getUserUnknown"])
    assert unknown["isEnrolled"] is False and unknown["enrolledVerificationMethods"] == []
    enrolled = value(driven["enroll"])
    assert enrolled["authenticator"]["verificationMethod"] == "SMS"
    assert enrolled["authenticator"]["userAuthenticatorId"].startswith("uat_")
    assert enrolled["authenticator"]["phoneNumber"] == "+64271234567"
    user = value(driven["getUser"])
    assert user["isEnrolled"] is True and user["enrolledVerificationMethods"] == ["SMS"]
    assert user["phoneNumber"] == "+64271234567"


def test_track_and_get_action(driven):
    allowed = value(driven["trackUnenrolled"])
    assert allowed["state"] == "ALLOW" and allowed["isEnrolled"] is False and allowed["idempotencyKey"]
    tracked = value(driven["track"])
    assert tracked["state"] == "CHALLENGE_REQUIRED" and tracked["isEnrolled"] is True
    assert tracked["idempotencyKey"].startswith("ik_") and tracked["token"]
    assert tracked["url"].startswith("http") and tracked["enrolledVerificationMethods"] == ["SMS"]
    pending = value(driven["getActionPending"])
    assert pending["state"] == "CHALLENGE_REQUIRED" and pending["createdAt"] and pending["stateUpdatedAt"]
    done = value(driven["getActionDone"])
    assert done["state"] == "CHALLENGE_SUCCEEDED" and done["verificationMethod"] == "SMS"


def test_validate_challenge_valid_unfinished_replayed(driven):
    unfinished = value(driven["validateUnfinished"])
    assert unfinished["isValid"] is False and unfinished["state"] == "CHALLENGE_REQUIRED"
    other_user = value(driven["validateOtherUser"])
    assert other_user["isValid"] is False  # the token belongs to someone else (seed: pass userId)
    valid = value(driven["validate"])
    # The SDK renames the wire's actionCode to `action`.
    assert valid["isValid"] is True and valid["state"] == "CHALLENGE_SUCCEEDED"
    assert valid["action"] == "withdrawal" and "actionCode" not in valid
    assert valid["userId"].startswith("usr_") and valid["verificationMethod"] == "SMS"
    replayed = value(driven["validateReplayed"])
    assert replayed["isValid"] is False and "already been used" in replayed["error"]
    unknown = value(driven["validateUnknownToken"])
    assert unknown["isValid"] is False and unknown["error"]


def test_errors_reach_the_sdk_as_authsignal_errors(driven):
    assert error(driven["wrongKey"]) == (401, "unauthorized")
    assert error(driven["getActionUnknown"]) == (404, "not_found")
    assert error(driven["enrollBad"]) == (400, "invalid_request")


# --- the sidecar's adapter beside the SDK ------------------------------------------------------------

USER, ACTION, KEY = "usr_wire", "withdrawal", "ik_wire"
TRACK = {
    "redirectUrl": "https://example.com/done",
    "idempotencyKey": KEY,
    "email": "a@example.com",
    "phoneNumber": "+64271234567",
    "ipAddress": "203.0.113.9",
    "userAgent": "Mozilla/5.0",
    "deviceId": "dev-1",
    "username": "ann",
    "custom": {"amount": 120},
    "redirectToSettings": True,
}
ENROLL = {"verificationMethod": "SMS", "phoneNumber": "+64271234567", "isDefault": True}

# operation → (SDK method, SDK request, the adapter's call for the same inputs)
OPERATIONS = {
    "validate": (
        "validateChallenge",
        {"token": "chl_wire", "userId": USER, "action": ACTION},
        lambda p: p.validate("chl_wire", USER, ACTION),
    ),
    "validate_token_only": ("validateChallenge", {"token": "chl_wire"}, lambda p: p.validate("chl_wire", None, None)),
    "track": (
        "track",
        {"userId": USER, "action": ACTION, "attributes": TRACK},
        lambda p: p.track(
            TrackInput(
                USER,
                ACTION,
                redirect_url=TRACK["redirectUrl"],
                idempotency_key=KEY,
                email=TRACK["email"],
                phone_number=TRACK["phoneNumber"],
                ip_address=TRACK["ipAddress"],
                user_agent=TRACK["userAgent"],
                device_id=TRACK["deviceId"],
                username=TRACK["username"],
                custom=TRACK["custom"],
                redirect_to_settings=True,
            )
        ),
    ),
    "track_bare": ("track", {"userId": USER, "action": ACTION}, lambda p: p.track(TrackInput(USER, ACTION))),
    "get_action": (
        "getAction",
        {"userId": USER, "action": ACTION, "idempotencyKey": KEY},
        lambda p: p.get_action(USER, ACTION, KEY),
    ),
    "get_user": ("getUser", {"userId": USER}, lambda p: p.get_user(USER)),
    "enroll": (
        "enrollVerifiedAuthenticator",
        {"userId": USER, "attributes": ENROLL},
        lambda p: p.enroll_verified_authenticator(
            EnrollInput(USER, "SMS", phone_number="+64271234567", is_default=True)
        ),
    ),
}
COMPARED_HEADERS = ("authorization", "x-authsignal-version", "content-type")


def _only_request(emulator) -> dict:
    (request,) = [r for r in emulator.requests() if r["path"].startswith("/v1/")]
    return request


def _shape(request: dict) -> dict:
    return {
        "method": request["method"],
        "path": request["path"],
        "query": request["query"],
        **{h: request["headers"].get(h) for h in COMPARED_HEADERS},
        "body": json.loads(request["body"]) if request["body"] else None,
    }


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_adapter_sends_what_the_sdk_sends(operation, sdk, emulator):
    method, request, adapter_call = OPERATIONS[operation]
    emulator.reset()
    run_node(sdk, "operation.js", emulator.url, SECRET_KEY, method, json.dumps(request))
    sdk_request = _shape(_only_request(emulator))

    emulator.reset()
    platform = AuthsignalClient(ChallengeSettings(base_url=f"{emulator.url}/v1", secret_key=SECRET_KEY))
    try:
        await adapter_call(platform)
    except Exception:  # noqa: BLE001 - only the request matters here (e.g. a 404 for an unknown action)
        pass
    finally:
        await platform.close()
    ours = _shape(_only_request(emulator))

    assert ours == sdk_request
    # The log keeps the credential as a fingerprint (emulator/redaction.py); the emulator itself refuses a
    # wrong secret, so an answered request carried BASIC.
    assert sdk_request["authorization"].startswith("Basic [redacted ") and sdk_request["x-authsignal-version"]
    assert BASIC.split()[1] not in json.dumps(emulator.requests())


# --- the emulator refuses what the SDK never sends ---------------------------------------------------


def test_emulator_refuses_requests_the_sdk_never_sends(emulator, sdk):
    run_node(sdk, "operation.js", emulator.url, SECRET_KEY, "getUser", json.dumps({"userId": USER}))
    sdk_headers = _only_request(emulator)["headers"]
    version = {"X-Authsignal-Version": sdk_headers["x-authsignal-version"]}
    http = httpx.Client(base_url=f"{emulator.url}/v1", auth=(SECRET_KEY, ""), timeout=10)
    with http:
        assert http.get(f"/users/{USER}", headers=version).status_code == 200
        assert http.get(f"/users/{USER}").status_code == 400  # no X-Authsignal-Version
        assert http.get(f"/users/{USER}", headers=version, auth=(SECRET_KEY, "pw")).status_code == 401
        track = f"/users/{USER}/actions/{ACTION}"
        assert http.post(track, headers=version, data={"redirectUrl": "x"}).status_code == 400  # form body
        assert http.post(track, headers=version, json={"redirect_url": "x"}).status_code == 400  # not a field
        assert http.post(track, headers=version, json=["x"]).status_code == 400
        assert http.post("/validate", headers=version, json={"token": "t", "user_id": USER}).status_code == 400
        refused = http.post(
            f"/users/{USER}/authenticators", headers=version, json={"oobChannel": "SMS", "phoneNumber": "+64271234567"}
        )
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
