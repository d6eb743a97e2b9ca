"""X-Twilio-Signature: the emulator signs webhooks (form and JSON-bodied), and the twilio SDKs' own validators
(node twilio@6.3.1 validateRequest / validateRequestWithBody, python twilio==9.13.0 RequestValidator) accept
them and refuse tampered ones. The same holds for a webhook the emulator really delivers when a push
challenge is answered."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest

from sidecar.emulator.credentials import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_VERIFY_SERVICE_SID
from tests.contract.conftest import run_node
from tests.contract.twilio.python_sdk import run_python

HOOK = "https://app.example.com/hooks/verify?tenant=7"


def sign(emulator, **body) -> dict:
    answer = emulator.http.post("/_control/twilio-verify/webhook", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def validate(node_project, cases: list[dict]) -> dict[str, dict]:
    """Each SDK's verdict per case: {"node": {name: bool}, "python": {name: bool}}."""
    text = json.dumps(cases)
    return {
        "node": run_node(node_project("twilio"), "webhooks.js", TWILIO_AUTH_TOKEN, text),
        "python": run_python("webhooks.py", TWILIO_AUTH_TOKEN, text),
    }


def form_case(name: str, signed: dict, **changes) -> dict:
    return {
        "name": name,
        "kind": "form",
        "url": signed["url"],
        "signature": signed["signature"],
        "params": signed["params"],
    } | changes


def json_case(name: str, signed: dict, **changes) -> dict:
    return {
        "name": name,
        "kind": "json",
        "url": signed["url"],
        "signature": signed["signature"],
        "body": signed["body"],
    } | changes


def test_the_sdks_accept_the_emulators_signatures_and_refuse_tampered_ones(emulator, node_project):
    params = {"type": "challenge.approved", "challenge_sid": "YC" + "a" * 32, "status": "approved", "multi": ["b", "a"]}
    form = sign(emulator, url=HOOK, params=params)
    assert form["headers"]["X-Twilio-Signature"] == form["signature"]
    assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    body = {"type": "factor.verified", "factor_sid": "YF" + "b" * 32, "n": 1}
    signed_json = sign(emulator, url="https://app.example.com/hooks/verify", json=body)
    assert "bodySHA256=" in signed_json["url"] and json.loads(signed_json["body"]) == body
    other = sign(emulator, url=HOOK, params=params, auth_token="someone-elses-token")
    cases = [
        form_case("form", form),
        form_case("form_default_port", form, url=HOOK.replace("example.com/", "example.com:443/")),
        form_case("form_param_changed", form, params={**params, "status": "denied"}),
        form_case("form_param_added", form, params={**params, "extra": "1"}),
        form_case("form_url_changed", form, url=HOOK.replace("tenant=7", "tenant=8")),
        form_case("form_other_token", other),
        json_case("json", signed_json),
        json_case("json_body_changed", signed_json, body=signed_json["body"].replace('"n":1', '"n":2')),
        json_case("json_hash_stripped", signed_json, url="https://app.example.com/hooks/verify"),
    ]
    expected = {c["name"]: c["name"] in ("form", "form_default_port", "json") for c in cases}
    verdicts = validate(node_project, cases)
    assert verdicts["node"] == expected
    assert verdicts["python"] == expected


def test_signing_controls_refuse_bad_requests(emulator):
    for body in ({}, {"url": "relative/path"}, {"url": HOOK, "params": {"a": 1}}, {"url": HOOK, "params": ["a"]}):
        assert emulator.http.post("/_control/twilio-verify/webhook", json=body).status_code == 400


class _Capture(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = min(int(self.headers.get("content-length", "0")), 65_536)
        _Capture.received.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    _Capture.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/verify?tenant=7"
    server.shutdown()
    server.server_close()


def test_a_delivered_challenge_webhook_is_valid_for_both_sdks(emulator, node_project, receiver):
    control = "/_control/twilio-verify"
    emulator.http.post(f"{control}/reset").raise_for_status()
    emulator.http.post(f"{control}/webhooks", json={"url": receiver}).raise_for_status()
    service = f"/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}/Entities/hook-user-0001"
    with httpx.Client(base_url=emulator.url, auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), timeout=10) as api:
        factor = api.post(
            f"{service}/Factors",
            data={
                "FriendlyName": "Phone",
                "FactorType": "push",
                "Binding.Alg": "ES256",
                "Binding.PublicKey": "AAAA",
                "Config.AppId": "com.example.app",
                "Config.NotificationPlatform": "none",
                "Config.SdkVersion": "1.0.0",
            },
        ).json()
        emulator.http.post(f"{control}/factors/{factor['sid']}/verify").raise_for_status()
        challenge = api.post(f"{service}/Challenges", data={"FactorSid": factor["sid"], "Details.Message": "Log in?"})
        sid = challenge.json()["sid"]
    emulator.http.post(f"{control}/challenges/{sid}", json={"status": "approved"}).raise_for_status()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(_Capture.received) < 2:
        time.sleep(0.05)
    events = {}
    for got in _Capture.received:
        params = dict(parse_qsl(got["body"].decode(), keep_blank_values=True))
        events[params["type"]] = (got, params)
    assert set(events) == {"factor.verified", "challenge.approved"}, _Capture.received
    got, params = events["challenge.approved"]
    assert (
        params["challenge_sid"] == sid
        and params["status"] == "approved"
        and params["entity_identity"] == "hook-user-0001"
    )
    assert got["path"] == "/hooks/verify?tenant=7"
    signature = got["headers"]["X-Twilio-Signature"]
    cases = [
        {"name": "delivered", "kind": "form", "url": receiver, "signature": signature, "params": params},
        {
            "name": "replayed_as_denied",
            "kind": "form",
            "url": receiver,
            "signature": signature,
            "params": {**params, "status": "denied"},
        },
    ]
    expected = {"delivered": True, "replayed_as_denied": False}
    verdicts = validate(node_project, cases)
    assert verdicts == {"node": expected, "python": expected}
    deliveries = emulator.http.get(f"{control}/webhooks/deliveries").json()
    assert {d["type"] for d in deliveries} == {"factor.verified", "challenge.approved"}
    assert all(d["status"] == 204 for d in deliveries)
    emulator.http.post(f"{control}/reset").raise_for_status()
