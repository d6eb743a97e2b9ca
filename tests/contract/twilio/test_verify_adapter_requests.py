"""The sidecar's Twilio Verify adapter sends what each twilio SDK (npm twilio@6.3.1 and PyPI twilio==9.13.0)
sends for each operation it uses: the SDKs and a real sidecar drive the emulator, which records every request,
and for each of the adapter's requests each SDK must have sent a request of the same operation (method, route)
with the same Basic credentials, encoding and form keys — repeated keys (Details.Fields, one JSON object each)
repeated, not indexed. Listing factors, fetching and deleting an entity and fetching the service are driven by
both SDKs too (drive.js, drive.py). Details.Fields' JSON is spaced as Python's json.dumps writes it (the Python
SDK's serialize.object); the Node SDK's JSON.stringify writes it without spaces: JSON either way, the key set
is what is compared.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import grpc
import pytest

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import SidecarProcess, emulator_config
from sidecar.emulator.credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)
from tests.contract.conftest import run_node
from tests.contract.twilio.python_sdk import run_python
from tests.e2e.test_verify_e2e import push_factor, verify_config

# one worker: the module fixtures (SDK drives, sidecar) run once
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("verify_adapter_requests")]
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


AGENTS = {"node": "twilio-node/", "python": "twilio-python/"}


@pytest.fixture(scope="module")
def sdk_shapes(_emulator_process, node_project) -> dict[str, set[tuple]]:
    """{sdk: the shapes of every request its drive sent} (each drive runs once for the module)."""
    emulator = _emulator_process
    shapes = {}
    for sdk in ("node", "python"):
        fresh(emulator)
        if sdk == "node":
            env = {"TWILIO_REGION": "", "TWILIO_EDGE": ""}
            results = run_node(node_project("twilio"), "drive.js", emulator.url, *CREDENTIALS, env=env)
        else:
            results = run_python("drive.py", emulator.url, *CREDENTIALS)
        assert "crashed" not in results, results["crashed"]
        sent = [r for r in upstream(emulator) if r["headers"].get("user-agent", "").startswith(AGENTS[sdk])]
        assert len(sent) >= 30
        shapes[sdk] = {shape(r) for r in sent}
    fresh(emulator)
    return shapes


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
        # Without factor_id: the user's factors are listed first.
        stub.VerifyTotp(pb.VerifyTotpRequest(user_id=user, code="123456"), timeout=10)
        stub.CreateApprovalRequest(pb.CreateApprovalRequestRequest(user_id=user, message="Pay?"), timeout=10)
        stub.GetUserStatus(pb.GetUserStatusRequest(user_id=user), timeout=10)
        health = proc.stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=10)
        assert next(u for u in health.upstreams if u.name == "verify").healthy
        stub.DeleteUser(pb.DeleteUserRequest(user_id=user), timeout=10)
        return upstream(emulator)
    except grpc.RpcError as exc:
        raise AssertionError(f"{exc.code()}: {exc.details()}") from None
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def ours(sdk_shapes, _emulator_process, tmp_path_factory) -> list[dict]:
    """The adapter's requests, through one sidecar for the module (after the SDK drives: a fresh emulator)."""
    fresh(_emulator_process)
    try:
        return sidecar_operations(_emulator_process, tmp_path_factory.mktemp("verify-adapter"))
    finally:
        fresh(_emulator_process)


@pytest.mark.parametrize("sdk", ["node", "python"])
def test_the_adapter_sends_what_the_sdk_sends(sdk_shapes, ours, sdk):
    routes = {(r["method"], r["route"]) for r in ours}
    # POST Verifications, VerificationCheck, Factors, Factors/{sid}, Challenges; GET Challenges/{sid},
    # Factors (the list), the entity's service; DELETE the entity
    assert len(routes) == 9, routes
    for request in ours:
        same_route = sorted((s for s in sdk_shapes[sdk] if s[1] == request["route"]), key=repr)
        assert shape(request) in sdk_shapes[sdk], (shape(request), same_route)
    push = next(r for r in ours if r["route"].endswith("/Challenges") and "Details.Message" in r["body"])
    fields = [v for k, v in parse_qsl(push["body"]) if k == "Details.Fields"]
    # json.dumps as the Python SDK's serialize.object writes it; a proto map has no order
    assert sorted(fields) == ['{"label": "City", "value": "Lisbon"}', '{"label": "IP", "value": "10.0.0.1"}']
