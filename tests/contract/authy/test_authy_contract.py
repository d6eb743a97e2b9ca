"""authy-client@1.1.4 against the emulator, and the sidecar's adapter against the same contract.

1. The SDK (installed from npm) runs every call the sidecar relies on plus the seed README's calls through
   its own `host` option; each parsed result is asserted (the SDK itself asserts the answer fields).
2. For each operation the sidecar performs, the request the SDK sent and the request upstream/authy.py
   sends (both recorded by the emulator) agree on method, path template, auth header, body encoding
   and body shape (keys and JSON types), and query keys.
3. The emulator refuses what the SDK never sends (form bodies), so it cannot hide an adapter bug.
4. Callback signatures: the emulator signs, the SDK's verifyCallback accepts, and so does the sidecar's core.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest

from sidecar.core.factors.callbacks import verify_signature
from sidecar.core.factors.records import Activity, ApprovalDraft, PhoneNumber, TokenRequest
from sidecar.emulator.credentials import AUTHY_API_KEY
from sidecar.upstream.authy import AuthyClient
from tests.contract.conftest import run_node

SDK_AGENT = "authy-client/1.1.4"
PHONE = PhoneNumber(1, "2015550123")


@pytest.fixture(scope="module")
def sdk_run(node_project, _emulator_process):
    """One run of sdk.js: its parsed results, and the requests the SDK sent (as the emulator recorded them)."""
    emulator = _emulator_process
    emulator.reset()
    results = run_node(node_project("authy"), "sdk.js", emulator.url, AUTHY_API_KEY)
    assert "crashed" not in results, results.get("crashed")
    sent = [r for r in emulator.requests() if r["headers"].get("user-agent", "").startswith(SDK_AGENT)]
    emulator.reset()
    return results, sent


def ok(results: dict, name: str) -> dict:
    assert results[name]["ok"], f"{name}: {results[name]}"
    return results[name]["result"]


def test_the_sdk_registers_reads_and_deletes_a_user(sdk_run):
    results, _ = sdk_run
    user_id = ok(results, "registerUser")["user"]["id"]
    assert isinstance(user_id, int) and ok(results, "registerUser")["message"] == "User created successfully."
    status = ok(results, "getUserStatus")["status"]
    assert status["authy_id"] == user_id and status["has_hard_token"] is False and status["country_code"] == 1
    assert ok(results, "deleteUser")["message"] == "User was added to remove."
    gone = results["getUserStatusDeleted"]
    assert not gone["ok"] and gone["error"]["code"] == 404 and gone["error"]["body"]["error_code"] == "60026"


def test_the_sdk_verifies_tokens_and_requests_sms_and_calls(sdk_run):
    results, _ = sdk_run
    for name in ("verifyToken", "verifyTokenForced"):
        assert ok(results, name)["token"] == "is valid" and ok(results, name)["message"] == "Token is valid."
    wrong = results["verifyTokenWrong"]
    assert not wrong["ok"] and wrong["error"]["code"] == 401 and wrong["error"]["body"]["error_code"] == "60020"
    sms, call = ok(results, "requestSms"), ok(results, "requestCall")
    assert sms["message"] == "SMS token was sent" and sms["ignored"] is False and sms["cellphone"].endswith("23")
    assert call["message"] == "Call started..." and call["ignored"] is False
    ignored = ok(results, "requestSmsIgnored")
    assert ignored["ignored"] is True and ignored["device"] == "android"


def test_the_sdk_creates_and_reads_approval_requests(sdk_run):
    results, _ = sdk_run
    uuid = ok(results, "createApprovalRequest")["approval_request"]["uuid"]
    pending = ok(results, "getApprovalRequest")["approval_request"]
    assert pending["uuid"] == uuid and pending["status"] == "pending" and pending["processed_at"] is None
    assert pending["_user_email"] == "sdk@example.com" and pending["details"] == {"Account Number": "981266321"}
    approved = ok(results, "getApprovalRequestApproved")["approval_request"]
    assert approved["status"] == "approved" and approved["processed_at"]


def test_the_sdk_verifies_phones_and_reads_app_and_phone_information(sdk_run):
    results, _ = sdk_run
    started = ok(results, "startPhoneVerification")
    assert started["is_cellphone"] is True and "+1 2015550123" in started["message"]
    assert ok(results, "verifyPhone")["message"] == "Verification code is correct."
    app = ok(results, "getApplicationDetails")
    assert app["message"] == "Application information." and {"plan", "sms_enabled", "app_id", "name"} <= set(app["app"])
    assert ok(results, "getApplicationStatistics")["message"] == "Monthly statistics."
    assert ok(results, "getPhoneInformation")["message"].startswith("Phone number information as of")
    assert ok(results, "registerActivity")["message"] == "Activity was created."


def test_the_sdk_accepts_the_emulators_callback_signature_and_so_does_the_sidecar(sdk_run):
    """Signed by emulator/authy_signing.py; checked by the SDK's own Signature assert and by
    core/factors/callbacks.py."""
    results, _ = sdk_run
    signed = ok(results, "verifyCallback")
    tampered = results["verifyCallbackTampered"]
    assert not tampered["ok"] and "x-authy-signature" in tampered["error"]["errors"]["headers"]
    body = {
        "approval_request": {
            "expiration_timestamp": 1455911778,
            "logos": None,
            "transaction": {
                "created_at_time": 1455825378,
                "details": {"Account Number": "98 12", "Zone": "EU"},
                "device_details": None,
                "encrypted": False,
                "hidden_details": {},
                "message": "Login to Bank of Example",
                "logos": [{"res": "default", "url": "https://example.com/a b.png"}],
                "status": "approved",
                "uuid": "u-1",
            },
        },
        "authy_id": 1635,
        "callback_action": "approval_request_status",
        "device_uuid": "d-1",
        "signature": "sig",
        "status": "approved",
        "uuid": "u-1",
    }
    verdict = verify_signature(
        AUTHY_API_KEY,
        nonce=signed["nonce"],
        method="POST",
        url="https://app.example.com/authy/callback?source=onetouch",
        params=body,
        signature=signed["signature"],
        now=float(signed["nonce"]),
        window_seconds=300,
    )
    assert verdict.valid, verdict


def shape(value):
    """JSON structure without the values: keys, nesting and JSON types."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null"}[type(value)]


def wire(request: dict) -> str:
    """What must agree between the SDK's request and the adapter's for one operation."""
    headers = request["headers"]
    return json.dumps(
        {
            "method": request["method"],
            "route": request["route"],
            "auth": headers.get("x-authy-api-key"),
            "accepts_json": "application/json" in headers.get("accept", ""),
            "content_type": headers.get("content-type", "").split(";")[0].strip() or None,
            "body": shape(json.loads(request["body"])) if request["body"] else None,
            "query": sorted(parse_qs(request["query"], keep_blank_values=True)),
        },
        sort_keys=True,
    )


async def drive_adapter(base_url: str, http: httpx.Client) -> None:
    """The sidecar's adapter performing the same operations as sdk.js (as the RPCs call it)."""
    client = AuthyClient(base_url, AUTHY_API_KEY, 5.0)
    try:
        user_id = await client.register_user("sidecar@example.com", PHONE)
        await client.user_status(user_id)
        code = http.get(f"/_control/authy/users/{user_id}/totp").json()["code"]
        await client.verify_token(user_id, code, False)
        await client.verify_token(user_id, code, True)
        await client.request_token(TokenRequest(user_id, "sms", action="login", action_message="Your code"))
        await client.request_token(TokenRequest(user_id, "call", force=True))
        await client.request_token(TokenRequest(user_id, "sms"))
        approval = await client.create_approval(
            ApprovalDraft(user_id, "Login to Bank?", {"Account Number": "9"}, {"ip": "10.0.0.1"}, 120)
        )
        await client.approval_status(approval)
        await client.start_phone_verification(PHONE, "sms", "en", 0)
        sent = http.get("/_control/authy/phones/last").json()
        await client.check_phone_verification(PHONE, sent["code"])
        assert (await client.health()).healthy
        assert (await client.application_statistics()).total_users >= 1
        assert (await client.phone_information(PHONE, "")).provider
        activity = Activity(user_id, "banned", {"reason": "Too many logins"}, "86.112.56.34")
        assert await client.register_activity(activity) == "Activity was created."
        await client.delete_user(user_id)
    finally:
        await client.aclose()


async def test_the_adapter_sends_what_the_sdk_sends_for_every_operation(sdk_run, emulator):
    _, sdk_requests = sdk_run
    await drive_adapter(f"{emulator.url}/authy", emulator.http)
    ours = [r for r in emulator.requests() if r["path"].startswith("/authy/")]
    assert ours and not any(r["headers"].get("user-agent", "").startswith(SDK_AGENT) for r in ours)
    used_routes = {(r["method"], r["route"]) for r in ours}
    assert len(used_routes) == 14, sorted(used_routes)
    theirs = {wire(r) for r in sdk_requests if (r["method"], r["route"]) in used_routes}
    mine = {wire(r) for r in ours}
    assert mine - theirs == set(), "the adapter sends requests the SDK never sends:\n" + "\n".join(mine - theirs)
    assert theirs - mine == set(), "the SDK sends requests the adapter never does:\n" + "\n".join(theirs - mine)


@pytest.mark.parametrize("path", ["/authy/protected/json/users/new", "/authy/protected/json/phones/verification/start"])
def test_the_emulator_refuses_form_bodies_the_sdk_never_sends(emulator, path):
    answer = emulator.http.post(
        path,
        data={
            "via": "sms",
            "country_code": "1",
            "phone_number": "2015550123",
            "user[email]": "a@b.c",
            "user[cellphone]": "2015550123",
            "user[country_code]": "1",
        },
        headers={"X-Authy-API-Key": AUTHY_API_KEY},
    )
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert "application/json" in answer.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        # registerActivity sends {data, type, user_ip} only; data an object, user_ip an IP (Assert.ip)
        ("POST", "/register_activity", {"json": {"type": "banned", "reason": "x"}}),
        ("POST", "/register_activity", {"json": {"type": "banned", "data": "x"}}),
        ("POST", "/register_activity", {"json": {"type": "banned", "user_ip": "localhost"}}),
        ("POST", "/register_activity", {"data": {"type": "banned"}}),
        # getPhoneInformation: country_code, phone_number, user_ip in the query and nothing else
        ("GET", "/protected/json/phones/info?country_code=1&phone_number=2015550123&via=sms", {}),
        # getApplicationStatistics: at most user_ip
        ("GET", "/protected/json/app/stats?app_id=1", {}),
    ],
)
def test_the_emulator_refuses_what_the_sdk_never_sends_for_the_report_calls(emulator, method, path, kwargs):
    if path == "/register_activity":
        user = emulator.http.post(
            "/authy/protected/json/users/new",
            json={"user": {"email": "r@example.com", "cellphone": "2015550123", "country_code": "1"}},
            headers={"X-Authy-API-Key": AUTHY_API_KEY},
        ).json()["user"]["id"]
        path = f"/protected/json/users/{user}/register_activity"
    answer = emulator.http.request(method, "/authy" + path, headers={"X-Authy-API-Key": AUTHY_API_KEY}, **kwargs)
    assert answer.status_code == 400 and answer.json()["success"] is False, answer.text
