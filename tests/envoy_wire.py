"""Envoy ext_authz messages assembled and read as raw protobuf bytes, by Envoy's field numbers.

Independent of our generated classes on purpose: if our .proto subset drifted from Envoy's
numbering, tests built on this would fail where tests built on our own classes would not.
Field numbers from envoyproxy/data-plane-api envoy/service/auth/v3/{external_auth,attribute_context}.proto,
envoy/config/core/v3/base.proto, envoy/type/v3/http_status.proto and google/rpc/status.proto.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check"
VARINT, LEN = 0, 2


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def string(number: int, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return tag(number, LEN) + varint(len(data)) + data


def integer(number: int, value: int) -> bytes:
    return tag(number, VARINT) + varint(value)


def check_request(method: str, path: str, headers: dict[str, str], *, extras: bool = True) -> bytes:
    """A CheckRequest as Envoy's HTTP ext_authz filter sends it (with fields we never read when extras)."""
    entries = b"".join(string(3, string(1, k) + string(2, v)) for k, v in headers.items())  # map<string,string> = 3
    http = (
        string(1, "req-1")
        + string(2, method)
        + entries
        + string(4, path)
        + string(5, "app.local")
        + string(6, "https")
        + string(10, "HTTP/2")
    )
    request = string(2, http)  # Request.http = 2
    attributes = string(4, request)  # AttributeContext.request = 4
    if extras:
        time = string(1, integer(1, 1_764_000_000) + integer(2, 5))  # Request.time = 1 (Timestamp)
        request = time + string(2, http)
        address = string(1, string(1, string(2, "10.0.0.7") + integer(3, 443)))  # Peer.address.socket_address
        peer = address + string(2, "frontend") + string(4, "spiffe://cluster.local/ns/a/sa/b")
        attributes = (
            string(1, peer)
            + string(2, string(2, "app"))
            + string(4, request)
            + string(10, string(1, "route") + string(2, "payments"))  # context_extensions map
            + string(12, string(1, "app.local"))  # tls_session.sni
            + integer(999, 7)
        )  # a field from the future
    return string(1, attributes)  # CheckRequest.attributes = 1


def fields(data: bytes) -> dict[int, list]:
    """Decode one message level: field number → values (ints for varints, bytes for LEN)."""
    out: dict[int, list] = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, i = _read_varint(data, i)
        elif wire_type == LEN:
            size, i = _read_varint(data, i)
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


@dataclass
class Decision:
    """A CheckResponse read back by field number."""

    grpc_code: int
    allowed: bool
    http_status: int = 0  # denied_response.status.code
    headers: dict[str, str] = field(default_factory=dict)  # ok: request headers set; denied: response headers
    remove: list[str] = field(default_factory=list)
    body: str = ""
    append_actions: set[int] = field(default_factory=set)


def read_check_response(data: bytes) -> Decision:
    top = fields(data)
    status = fields(top.get(1, [b""])[0])
    code = status.get(1, [0])[0]
    if 3 in top:  # ok_response = 3
        ok = fields(top[3][0])
        decision = Decision(code, True, remove=[v.decode() for v in ok.get(5, [])])
        _read_headers(ok.get(2, []), decision)
        return decision
    denied = fields(top[2][0]) if 2 in top else {}  # denied_response = 2
    http_status = fields(denied[1][0]).get(1, [0])[0] if 1 in denied else 0
    decision = Decision(code, False, http_status=http_status, body=denied.get(3, [b""])[0].decode())
    _read_headers(denied.get(2, []), decision)
    return decision


def _read_headers(options: list[bytes], decision: Decision) -> None:
    for raw in options:
        option = fields(raw)  # HeaderValueOption
        header = fields(option[1][0])  # header = 1: HeaderValue
        decision.headers[header[1][0].decode()] = header.get(2, [b""])[0].decode()
        decision.append_actions.add(option.get(3, [0])[0])  # append_action = 3
