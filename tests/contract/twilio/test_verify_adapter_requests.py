"""The sidecar's Twilio Verify adapter sends what the PyPI twilio SDK (9.13.0) sends for each operation it uses:
both drive the emulator, which records every request, and for each of the adapter's requests an SDK request of
the same operation (method, route) must have the same Basic credentials, encoding and form keys —
repeated keys (Details.Fields, one JSON object each) repeated, not indexed. Operations the SDK drive does
not cover (listing factors, deleting an entity, fetching the service) are pinned by
tests/unit/test_twilio_verify_adapter.py instead.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import grpc
import pytest

from authsidecar.v1 import factors_pb2 as pb
from authsidecar.v1 import factors_pb2_grpc
from harness.processes import SidecarProcess, emulator_config
from sidecar.emulator.credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)
from tests.contract.twilio.python_sdk import run_python
from tests.e2e.test_verify_e2e import push_factor, verify_config

pytestmark = pytest.mark.timeout(300)
CONTROL = "/_control/twilio-verify"
CREDENTIALS = (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_API_KEY_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_VERIFY_SERVICE_SID,
)


def shape(request: dict) -> tuple:
    """What must agree for one operation: method, route, credentials (the log keeps a fingerprint), media
    type and the set of form keys (how many Details.Fields depends on the call; the SDK drive sends one)."""
    keys = frozenset(k for k, _ in parse_qsl(request["body"] or "", keep_blank_values=True))
    media = request["headers"].get("content-type", "").split(";")[0] or None
    return request["method"], request["route"], request["headers"].get("authorization"), media, keys


def upstream(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r["path"].startswith("/twilio-verify/")]


def fresh(emulator) -> None:
    emulator.reset()
    emulator.http.post(f"{CONTROL}/reset").raise_for_status()


@pytest.fixture
def sdk_shapes(emulator) -> set[tuple]:
    fresh(emulator)
    results = run_python("drive.py", emulator.url, *CREDENTIALS)
    assert "crashed" not in results, results["crashed"]
    sent = [r for r in upstream(emulator) if r["headers"].get("user-agent", "").startswith("twilio-python/")]
    assert len(sent) >= 30
    fresh(emulator)
    return {shape(r) for r in sent}


def sidecar_operations(emulator, tmp_path) -> list[dict]:
    """Every Verify operation the adapter speaks that the SDK drive covers, through a real sidecar."""
    user = "contract-user"
    proc = SidecarProcess({**emulator_config(emulator.url), **verify_config(emulator.url)}, tmp_path)
    try:
        proc.wait_for("SERVING")
        stub = factors_pb2_grpc.SecondFactorServiceStub(proc.channel)
        push = push_factor(emulator, user)
        emulator.reset()  # the request log from here on is the sidecar's
        stub.StartPhoneVerification(
            pb.StartPhoneVerificationRequest(country="US", phone="4155552671", locale="en"), timeout=10
        )
        stub.CheckPhoneVerification(
            pb.CheckPhoneVerificationRequest(country="US", phone="4155552671", code="000000"), timeout=10
        )
        stub.RequestCall(pb.RequestCallRequest(user_id=user, country="US", phone="4155550202"), timeout=10)
        enrolled = stub.EnrollTotp(pb.EnrollTotpRequest(user_id=user, friendly_name="Acme"), timeout=10)
        code = emulator.http.get(f"{CONTROL}/factors/{enrolled.factor_id}/code").json()["code"]
        assert stub.ConfirmTotp(
            pb.ConfirmTotpRequest(user_id=user, factor_id=enrolled.factor_id, code=code), timeout=10
        ).valid
        stub.VerifyTotp(pb.VerifyTotpRequest(user_id=user, code="123456", factor_id=enrolled.factor_id), timeout=10)
        created = stub.CreateApprovalRequest(
            pb.CreateApprovalRequestRequest(
                user_id=user,
                message="Log in?",
                visible_details={"IP": "10.0.0.1", "City": "Lisbon"},
                hidden_details={"k": "v"},
                ttl_seconds=120,
                factor_id=push,
            ),
            timeout=10,
        )
        stub.GetApprovalRequest(pb.GetApprovalRequestRequest(id=created.id), timeout=10)
        return upstream(emulator)
    except grpc.RpcError as exc:
        raise AssertionError(f"{exc.code()}: {exc.details()}") from None
    finally:
        proc.stop()


def test_the_adapter_sends_what_the_python_sdk_sends(sdk_shapes, emulator, tmp_path):
    ours = sidecar_operations(emulator, tmp_path)
    routes = {(r["method"], r["route"]) for r in ours}
    assert len(routes) == 6, (
        routes
    )  # POST Verifications, VerificationCheck, Factors, Factors/{sid}, Challenges; GET Challenges/{sid}
    for request in ours:
        assert shape(request) in sdk_shapes, (shape(request), sorted(s for s in sdk_shapes if s[1] == request["route"]))
    push = next(r for r in ours if r["route"].endswith("/Challenges") and "Details.Message" in r["body"])
    fields = [v for k, v in parse_qsl(push["body"]) if k == "Details.Fields"]
    # json.dumps as the SDK's serialize.object writes it; a proto map has no order
    assert sorted(fields) == ['{"label": "City", "value": "Lisbon"}', '{"label": "IP", "value": "10.0.0.1"}']
