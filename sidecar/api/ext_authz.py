"""envoy.service.auth.v3.Authorization/Check: Envoy's request ⇄ core HttpRequest, Decision ⇄ Envoy's response.

The decision itself is made by core.ext_authz.policy; this module only translates. Denials are answers
(status PERMISSION_DENIED/UNAUTHENTICATED with a DeniedHttpResponse), not gRPC errors, so the proxy
sends our status, headers and body to the client.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import cast

import grpc
from google.protobuf import struct_pb2
from google.rpc import code_pb2, status_pb2

from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.type.v3 import http_status_pb2
from sidecar.api.services import Services
from sidecar.core.ext_authz.decisions import Allow, Decision
from sidecar.core.ext_authz.http_request import HttpRequest, folded
from sidecar.core.ext_authz.policy import Policy, Verifiers
from sidecar.observability import logs, metrics, tracing
from sidecar.observability.decision_log import subject_hash

from ..config import Settings
from ..core.ext_authz.decision_ids import DECISION_ID_HEADER, new_decision_id
from . import observe
from .rpc import InFlight, rpc

log = logs.get("ext_authz")

OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
GRPC_CODE = {401: code_pb2.UNAUTHENTICATED, 503: code_pb2.UNAVAILABLE}
ID_HEADER_LENGTH = len(DECISION_ID_HEADER)
ALLOWED_MEMO = 1024  # encoded allowed answers kept (~1 kB each with their keys; in the memory plan's baseline)


class ExtAuthzService(external_auth_pb2_grpc.AuthorizationServicer):
    def __init__(self, sidecar: Services, inflight: InFlight) -> None:
        self.sidecar = sidecar
        self.inflight = inflight
        s = sidecar.settings
        self.policy = Policy(s.ext_authz, s.limits, s.default_region)
        self.verifiers = Verifiers(
            tokens=getattr(sidecar, "tokens", None),
            sessions=getattr(sidecar, "sessions", None),
            challenges=getattr(sidecar, "challenges", None),
        )

    def reload(self, settings: Settings) -> None:
        """Live reload: new rules and headers; the next Check uses them (one attribute swap)."""
        self.policy = Policy(settings.ext_authz, settings.limits, settings.default_region)

    @rpc("Check")
    async def Check(self, request: pb.CheckRequest, context: grpc.aio.ServicerContext) -> pb.CheckResponse:
        started = time.perf_counter()
        decision_id = new_decision_id()
        checked = http_request(request)
        decision = await self.policy.decide(checked, self.verifiers)
        # Rules come from the config and reasons from a fixed set: bounded labels, so memoised children.
        if isinstance(decision, Allow):
            result = "allow"
            metrics.child(metrics.EXT_AUTHZ_DECISIONS_TOTAL, decision.rule, result, "none").inc()  # Allow.reason
            if decision.dry_run:
                metrics.child(
                    metrics.EXT_AUTHZ_DRY_RUN_TOTAL, decision.rule, decision.dry_run, decision.would_reason or "none"
                ).inc()
        else:
            result = "deny"
            metrics.child(metrics.EXT_AUTHZ_DECISIONS_TOTAL, decision.rule, result, decision.reason).inc()
            log.debug("denied", extra={"rule": decision.rule, "reason": decision.reason, "status": decision.status})
        if observe.on():
            observe.check_decision(decision, result, self.policy.prefix, started, decision_id)
        return check_response(decision, decision_id, self.policy.prefix, checked)


def _trace_carrier(request: pb.CheckRequest) -> Mapping[str, str]:
    # Sent by anyone on the internet: tracing takes its trace id, never its sampled flag (or tracestate).
    traceparent = http_request(request).headers.get("traceparent")
    return {"traceparent": traceparent} if traceparent else {}


tracing.CARRIERS["Check"] = _trace_carrier  # a Check's trace parent: the checked request's traceparent


def http_request(request: pb.CheckRequest) -> HttpRequest:
    attributes = request.attributes
    http = attributes.request.http
    sent = http.headers
    # By key, not .items(): a protobuf map's items() is collections.abc's view, iterated in Python.
    headers = {k.lower(): sent[k] for k in sent}
    if http.HasField("header_map"):  # sent instead of `headers` when encode_raw_headers is on
        for h in http.header_map.headers:
            value = h.value or h.raw_value.decode("utf-8", "replace")
            name = h.key.lower()
            # Repeated headers are joined as Envoy joins them in `headers`: a doubled Authorization
            # then fails to parse as one Bearer token, which is the safe reading.
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    extensions = attributes.context_extensions
    context = {k: extensions[k] for k in extensions} if extensions else {}
    return HttpRequest(http.method, http.path, headers, attributes.source.principal, context)


def check_response(
    decision: Decision, decision_id: str = "", prefix: str = "x-auth-", checked: HttpRequest | None = None
) -> pb.CheckResponse:
    """The answer for Envoy: its status, headers and body, and the decision id in a header (to the app
    when allowed, to the client when denied) and in the dynamic metadata for Envoy's access log."""
    if isinstance(decision, Allow):
        remove = _forged_id_headers(checked) if checked is not None else ()
        # A hot caller is allowed over and over with the same identity headers: its answer is parsed
        # from a memoised encoding with this call's decision id merged in (repeated headers append,
        # the metadata map adds a key), not rebuilt message by message in Python each time.
        return pb.CheckResponse.FromString(_allowed_bytes(decision, prefix, remove) + _id_bytes(decision_id))
    ids = ((DECISION_ID_HEADER, decision_id),) if decision_id else ()
    headers = [*decision.headers, *ids, ("content-type", "application/json")]
    return pb.CheckResponse(
        status=status_pb2.Status(
            code=GRPC_CODE.get(decision.status, code_pb2.PERMISSION_DENIED), message=decision.reason
        ),
        dynamic_metadata=_metadata(decision, decision_id, prefix),
        denied_response=pb.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=cast("http_status_pb2.StatusCode", decision.status)),
            headers=[_header(k, v) for k, v in headers],
            body=decision.body,
        ),
    )


def _forged_id_headers(checked: HttpRequest) -> tuple[str, ...]:
    """Other spellings of our id header (x_authsidecar_decision_id): forged, removed on the way to the app.
    Folding keeps a name's length (only U+0130 lowers to two characters, not both ASCII), so only names
    of our header's length need folding, not every header of every call."""
    forged: tuple[str, ...] = ()
    for h in checked.headers:  # a loop, not a generator: usually nothing is found, and cheaply
        if len(h) == ID_HEADER_LENGTH and h != DECISION_ID_HEADER and folded(h) == DECISION_ID_HEADER:
            forged += (h,)
    return forged


@functools.lru_cache(maxsize=ALLOWED_MEMO)
def _allowed_bytes(decision: Allow, prefix: str, forged: tuple[str, ...]) -> bytes:
    """An allowed answer without its decision id, encoded."""
    return pb.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        dynamic_metadata=_metadata(decision, "", prefix),
        ok_response=pb.OkHttpResponse(
            headers=[_header(k, v) for k, v in decision.headers], headers_to_remove=[*decision.remove, *forged]
        ),
    ).SerializeToString()


def _id_bytes(decision_id: str) -> bytes:
    """The decision id's share of an allowed answer (its header last, its metadata key), encoded."""
    if not decision_id:
        return b""
    encoded = decision_id.encode()
    if len(encoded) == len(_ID_PLACEHOLDER):  # as long as the template's: its length prefixes still hold
        return _ID_TEMPLATE.replace(_ID_PLACEHOLDER, encoded)
    return _encode_id(decision_id)


def _encode_id(decision_id: str) -> bytes:
    metadata = struct_pb2.Struct()
    metadata.update({"decision_id": decision_id})
    return pb.CheckResponse(
        dynamic_metadata=metadata, ok_response=pb.OkHttpResponse(headers=[_header(DECISION_ID_HEADER, decision_id)])
    ).SerializeToString()


def _metadata(decision: Decision, decision_id: str, prefix: str) -> struct_pb2.Struct:
    """Envoy's access log reads these (%DYNAMIC_METADATA(envoy.filters.http.ext_authz:<key>)%). The
    access log is the operator's log, so the subject goes in hashed, as in the decision log — never
    the user id itself — and only bounded labels otherwise."""
    metadata = struct_pb2.Struct()
    values = {"rule": decision.rule, "reason": getattr(decision, "would_reason", "") or decision.reason}
    if decision_id:
        values["decision_id"] = decision_id
    if isinstance(decision, Allow):
        subject = dict(decision.headers).get(prefix + "subject", "")
        if subject:
            values["subject_sha256"] = subject_hash(subject)
        if decision.dry_run:
            values["dry_run"] = decision.dry_run
    metadata.update(values)
    return metadata


def _header(key: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=key, value=value), append_action=OVERWRITE)


# Only the id's own 32 bytes can match: the template holds nothing else of that length and form.
_ID_PLACEHOLDER = b"\x00" * 32
_ID_TEMPLATE = _encode_id(_ID_PLACEHOLDER.decode())
