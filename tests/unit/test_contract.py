"""The contract: committed stubs match the .proto, messages round-trip, enums match the core's."""

from __future__ import annotations

import filecmp
from pathlib import Path

from authsidecar.v1 import auth_pb2 as pb
from sidecar.api import convert
from sidecar.core.shared.outcomes import ActionState, Reason, SessionStatus, Source
from tools.protogen import generate

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_current(tmp_path):
    generate(tmp_path)
    committed = ROOT / "generated"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh == sorted(
        p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)]
    assert not stale, f"run `make proto` and commit: {stale}"


def test_core_enums_and_proto_enums_match_both_ways():
    pairs = [
        (Reason, pb.Reason, "REASON_"),
        (Source, pb.Source, "SOURCE_"),
        (SessionStatus, pb.SessionStatus, "SESSION_STATUS_"),
        (ActionState, pb.ActionState, "ACTION_STATE_"),
    ]
    for core_enum, proto_enum, prefix in pairs:
        assert {prefix + m.value for m in core_enum} == set(proto_enum.keys())
    assert convert.reason(Reason.NONE) == pb.REASON_UNSPECIFIED
    assert convert.reason(Reason.ALREADY_USED) == pb.REASON_ALREADY_USED


def test_every_rpc_has_its_own_request_and_response():
    service = pb.DESCRIPTOR.services_by_name["AuthService"]
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
    required = {"VerifySession", "GetSessionStatus", "VerifyApproval", "IsRevoked", "ValidateChallenge", "VerifyToken"}
    assert required <= set(service.methods_by_name)


def test_messages_round_trip_through_bytes():
    response = pb.VerifyTokenResponse(
        valid=True, source=pb.SOURCE_CACHE, auth=pb.AuthInfo(subject="u1", scopes=["a", "b"], audiences=["x"])
    )
    response.auth.claims.update({"sub": "u1", "n": 3})
    again = pb.VerifyTokenResponse.FromString(response.SerializeToString())
    assert again == response and again.auth.claims["n"] == 3


def test_proto_options_let_other_languages_generate():
    opts = pb.DESCRIPTOR.GetOptions()
    assert opts.go_package and opts.java_package and pb.DESCRIPTOR.package == "authsidecar.v1"
