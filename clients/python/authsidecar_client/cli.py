"""`sidecar call`: a tiny grpcurl for the sidecar's services, driven by the proto descriptors."""

from __future__ import annotations

import json
import sys
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from authsidecar.v1 import auth_pb2, factors_pb2
from authsidecar_client.errors import upstream_error

# Every RPC by name (names are unique across the sidecar's services).
METHODS = {
    m.name: m
    for module in (auth_pb2, factors_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for m in service.methods
}


def build_request(rpc: str, fields: list[str], raw_json: str | None) -> tuple[MethodDescriptor, Any]:
    method = METHODS.get(rpc)
    if method is None:
        raise SystemExit(f"unknown RPC {rpc!r}; choose from: {', '.join(sorted(METHODS))}")
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
    request_class = message_factory.GetMessageClass(method.input_type)
    return method, json_format.ParseDict(body, request_class())


def _print(message: Message) -> None:
    print(
        json_format.MessageToJson(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    )


def _error_json(err: grpc.RpcError) -> str:
    """Code and message, plus the UpstreamErrorDetail when the status carries one."""
    out: dict[str, Any] = {"code": err.code().name, "details": err.details()}
    detail = upstream_error(err)
    if detail is not None:
        out["upstream_error"] = json_format.MessageToDict(detail, preserving_proto_field_name=True)
    return json.dumps(out)


def call(target: str, rpc: str, fields: list[str], raw_json: str | None, timeout: float) -> int:
    method, request = build_request(rpc, fields, raw_json)
    response_class = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    with grpc.insecure_channel(target) as channel:
        wire = {
            "request_serializer": type(request).SerializeToString,
            "response_deserializer": response_class.FromString,
        }
        try:
            if method.server_streaming:
                for message in channel.unary_stream(path, **wire)(request, timeout=timeout):
                    _print(message)
            else:
                _print(channel.unary_unary(path, **wire)(request, timeout=timeout))
        except grpc.RpcError as err:
            print(_error_json(err), file=sys.stderr)
            return 1
    return 0
