"""The contract: committed stubs match the .proto, messages round-trip, enums match the core's."""

from __future__ import annotations

import filecmp
from pathlib import Path

from authsidecar.v1 import auth_pb2 as pb
from sidecar.api import convert
from sidecar.core.shared.outcomes import ActionState, Reason, SessionStatus, Source
from tools.protogen import generate, split

ROOT = Path(__file__).resolve().parents[2]


def files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_committed_stubs_are_current(tmp_path):
    generate(tmp_path / "out")
    split(tmp_path / "out", tmp_path / "generated", tmp_path / "client")
    # the client's stubs and the server's Envoy ones, each compared with its committed folder
    for fresh_dir, committed in (
        (tmp_path / "generated", ROOT / "generated"),
        (tmp_path / "client" / "authsidecar", ROOT / "clients" / "python" / "authsidecar"),
    ):
        fresh = files(fresh_dir)
        assert fresh == files(committed), f"run `make proto` and commit ({committed})"
        stale = [str(p) for p in fresh if not filecmp.cmp(fresh_dir / p, committed / p, shallow=False)]
        assert not stale, f"run `make proto` and commit: {stale}"


def test_the_server_uses_the_client_distributions_stubs_not_a_copy():
    import authsidecar.v1.auth_pb2  # noqa: PLC0415 (the module whose file is the point)

    assert Path(authsidecar.v1.auth_pb2.__file__).resolve().parent == ROOT / "clients" / "python" / "authsidecar" / "v1"
    assert not (ROOT / "generated" / "authsidecar").exists()


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


def test_the_node_package_ships_the_protos_as_they_are():
    shipped = ROOT / "clients" / "node" / "protos"
    for proto in sorted((ROOT / "protos" / "authsidecar").rglob("*.proto")):
        copy = shipped / proto.relative_to(ROOT / "protos")
        assert copy.is_file() and filecmp.cmp(proto, copy, shallow=False), (
            f"run `make proto`: {copy} differs from {proto}"
        )
    extra = {p.relative_to(shipped) for p in (shipped / "authsidecar").rglob("*.proto")} - {
        p.relative_to(ROOT / "protos") for p in (ROOT / "protos" / "authsidecar").rglob("*.proto")
    }
    assert not extra, f"clients/node/protos has protos the repo does not: {sorted(map(str, extra))}"
    assert (shipped / "google" / "rpc" / "status.proto").is_file()  # auth.proto imports it


def test_the_node_packages_factors_types_are_current():
    from tools.node_types import OUT, render  # noqa: PLC0415 (only this test needs it)

    assert OUT.read_text() == render(), "run `python tools/node_types.py`: clients/node/factors.d.ts is stale"
