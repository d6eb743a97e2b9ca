"""`sidecar call` and `sidecar health`: a tiny grpcurl for AuthService, driven by the proto descriptors."""

from __future__ import annotations

import json
import sys

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authsidecar.v1 import auth_pb2, auth_pb2_grpc

SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]


def build_request(rpc: str, fields: list[str], raw_json: str | None):
    method = SERVICE.methods_by_name.get(rpc)
    if method is None:
        raise SystemExit(f"unknown RPC {rpc!r}; choose from: {', '.join(sorted(SERVICE.methods_by_name))}")
    body: dict = json.loads(raw_json) if raw_json else {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected name=value, got {item!r}")
        field = method.input_type.fields_by_name.get(name)
        if field is None:
            known = ", ".join(f.name for f in method.input_type.fields)
            raise SystemExit(f"{rpc} has no field {name!r}; fields: {known}")
        is_repeated = field.is_repeated
        body[name] = [v for v in value.split(",") if v] if is_repeated else value
    request_class = getattr(auth_pb2, method.input_type.name)
    return method, json_format.ParseDict(body, request_class())


def call(target: str, rpc: str, fields: list[str], raw_json: str | None, timeout: float) -> int:
    method, request = build_request(rpc, fields, raw_json)
    with grpc.insecure_channel(target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        try:
            response = getattr(stub, method.name)(request, timeout=timeout)
        except grpc.RpcError as err:
            print(json.dumps({"code": err.code().name, "details": err.details()}), file=sys.stderr)
            return 1
    print(json_format.MessageToJson(response, preserving_proto_field_name=True,
                                    always_print_fields_with_no_presence=True))
    return 0


def check_health(target: str, service: str) -> int:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError as err:
            print(json.dumps({"code": err.code().name, "details": err.details()}), file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(status)
    return 0 if status == "SERVING" else 1
