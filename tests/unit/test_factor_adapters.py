"""The Authy adapter over httpx.MockTransport: wire shapes in, core answers and errors out."""

from __future__ import annotations

import json

import httpx
import pytest

from sidecar.core.factors.second_factors import ApprovalDraft, ApprovalStatus, PhoneNumber
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream.authy import AuthyClient


def authy(handler) -> AuthyClient:
    return AuthyClient("https://authy.test", "k3y", 2.0, transport=httpx.MockTransport(handler))


async def test_verify_token_sends_key_and_force_and_reads_the_string_true():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": "true", "token": "is valid"})

    assert await authy(handler).verify_token("1635", "1234567", force=True)
    assert seen[0].url.path == "/protected/json/verify/1234567/1635"
    assert seen[0].url.params["force"] == "true" and seen[0].headers["x-authy-api-key"] == "k3y"


async def test_wrong_token_is_an_answer_other_refusals_are_errors():
    wrong = authy(lambda r: httpx.Response(401, json={"message": "Token is invalid", "error_code": "60020"}))
    assert await wrong.verify_token("1", "1234567", False) is False
    bad_key = authy(lambda r: httpx.Response(401, json={"message": "Invalid API key", "error_code": "60001"}))
    with pytest.raises(UpstreamError) as err:
        await bad_key.verify_token("1", "1234567", False)
    assert err.value.status == 401 and err.value.message == "Invalid API key" and "60001" in err.value.body


async def test_transport_failures_and_garbage_are_unavailable():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    for client, status in ((authy(refuse), 0), (authy(lambda r: httpx.Response(200, text="<html>")), 502)):
        with pytest.raises(UpstreamError) as err:
            await client.approval_status("u")
        assert err.value.unavailable and err.value.status == status  # 502: a bad answer (upstream/guard.py)


async def test_approval_request_json_body_and_status_mapping():
    forms = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert request.headers["content-type"] == "application/json"
            forms.append(json.loads(request.content))
            return httpx.Response(200, json={"approval_request": {"uuid": "u-1"}, "success": True})
        return httpx.Response(200, json={"approval_request": {"status": "denied"}, "success": True})

    client = authy(handler)
    draft = ApprovalDraft("1635", "Login?", {"Account Number": "9"}, {"ip": "10.0.0.1"}, 120)
    assert await client.create_approval(draft) == "u-1"
    # authy-client@1.1.4 createApprovalRequest: JSON, nested details, the TTL as a number.
    assert forms == [
        {
            "message": "Login?",
            "details": {"Account Number": "9"},
            "hidden_details": {"ip": "10.0.0.1"},
            "seconds_to_expire": 120,
        }
    ]
    assert await client.approval_status("u-1") is ApprovalStatus.DENIED


async def test_phone_check_wrong_code_is_false_and_no_pending_is_404():
    phone = PhoneNumber(1, "2015550123")
    wrong = authy(
        lambda r: httpx.Response(401, json={"message": "Verification code is incorrect", "error_code": "60022"})
    )
    assert await wrong.check_phone_verification(phone, "1234") is False
    none = authy(lambda r: httpx.Response(404, json={"message": "No pending verifications", "error_code": "60023"}))
    with pytest.raises(UpstreamError) as err:
        await none.check_phone_verification(phone, "1234")
    assert err.value.status == 404
