"""SecondFactorService's RegisterActivity, GetApplicationStatistics and GetPhoneInformation end to end:
a real sidecar process against the emulator's Authy area (authy-client's registerActivity,
getApplicationStatistics and getPhoneInformation)."""

from __future__ import annotations

import json
import re
import time

import grpc
import pytest

from authsidecar.v1 import factors_pb2 as pb
from authsidecar.v1 import factors_pb2_grpc


@pytest.fixture
def factors(sidecar):
    stub = factors_pb2_grpc.SecondFactorServiceStub(sidecar.channel)
    stub.proc = sidecar
    return stub


def register(factors) -> str:
    request = pb.RegisterUserRequest(email="u@example.com", country="US", phone="2015550123")
    return factors.RegisterUser(request, timeout=5).user_id


def test_register_activity_reaches_the_platform_as_the_sdk_sends_it(factors, emulator):
    user_id = register(factors)
    emulator.reset()
    answer = factors.RegisterActivity(
        pb.RegisterActivityRequest(user_id=user_id, type="banned", data={"reason": "too many logins"}, ip="::1"),
        timeout=5,
    )
    assert answer.message == "Activity was created."
    (sent,) = [r for r in emulator.requests() if r["route"].endswith("/register_activity")]
    assert json.loads(sent["body"]) == {"type": "banned", "data": {"reason": "too many logins"}, "user_ip": "::1"}

    bare = factors.RegisterActivity(pb.RegisterActivityRequest(user_id=user_id, type="cookie_login"), timeout=5)
    assert bare.message == "Activity was created."
    with pytest.raises(grpc.RpcError) as err:
        factors.RegisterActivity(pb.RegisterActivityRequest(user_id="999999999", type="unbanned"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_application_statistics(factors):
    register(factors)
    stats = factors.GetApplicationStatistics(pb.GetApplicationStatisticsRequest(), timeout=5)
    assert stats.app_id == 1 and stats.total_users >= 1
    (month,) = stats.months
    assert month.year == time.gmtime().tm_year and month.month == time.strftime("%B", time.gmtime())
    assert month.users_count == stats.total_users


def test_phone_information(factors, emulator):
    emulator.reset()
    info = factors.GetPhoneInformation(pb.GetPhoneInformationRequest(country="US", phone="(201) 555-0123"), timeout=5)
    assert info.provider == "Emulated Carrier" and info.type and not info.ported
    assert re.fullmatch(r"Phone number information as of \d+-\d+-\d+ \d+:\d+:\d+ UTC", info.message)
    (sent,) = [r for r in emulator.requests() if r["route"].endswith("/phones/info")]
    assert sent["query"] == "country_code=1&phone_number=2015550123"


BAD = [
    ("RegisterActivity", pb.RegisterActivityRequest(type="banned"), "user_id: is required"),
    ("RegisterActivity", pb.RegisterActivityRequest(user_id="12a", type="banned"), "user_id: must be the platform"),
    ("RegisterActivity", pb.RegisterActivityRequest(user_id="1", type="hacked"), "type: must be one of"),
    ("RegisterActivity", pb.RegisterActivityRequest(user_id="1", type="banned", ip="1.2.3.999"), "ip: is not an IP"),
    (
        "RegisterActivity",
        pb.RegisterActivityRequest(user_id="1", type="banned", data={str(i): "v" for i in range(33)}),
        "data: has more than 32 entries",
    ),
    (
        "RegisterActivity",
        pb.RegisterActivityRequest(user_id="1", type="banned", data={"k": "v" * 1025}),
        "data[k]: is longer than 1024",
    ),
    ("RegisterActivity", pb.RegisterActivityRequest(user_id="1", type="banned", data={"": "v"}), "data key: is"),
    ("GetPhoneInformation", pb.GetPhoneInformationRequest(country="US", phone="12"), "phone: is not a valid number"),
    ("GetPhoneInformation", pb.GetPhoneInformationRequest(country="XX", phone="2015550123"), "country: is not"),
    ("GetPhoneInformation", pb.GetPhoneInformationRequest(country="US", phone="1" * 65), "phone: is longer than 64"),
    (
        "GetPhoneInformation",
        pb.GetPhoneInformationRequest(country="US", phone="2015550123", ip="localhost"),
        "ip: is not an IP",
    ),
]


@pytest.mark.parametrize(("method", "request_", "message"), BAD, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)])
def test_bad_input_is_invalid_argument_naming_the_field(shared_sidecar, method, request_, message):
    stub = factors_pb2_grpc.SecondFactorServiceStub(shared_sidecar.channel)
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, method)(request_, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(message), err.value.details()
