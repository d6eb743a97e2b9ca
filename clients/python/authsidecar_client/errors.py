"""The rich status a failed call may carry: `authsidecar.v1.UpstreamErrorDetail` (errors.proto).

Read from the `grpc-status-details-bin` trailer with googleapis-common-protos alone, so the client
needs no grpcio-status.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.rpc import status_pb2

from authsidecar.v1 import errors_pb2

DETAILS_KEY = "grpc-status-details-bin"
MAX_DETAILS_BYTES = 64 * 1024  # bound what we parse; the sidecar's details are a few hundred bytes


def status_details(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in the error's trailers, or None (absent, oversized or unparsable)."""
    trailers: Sequence[tuple[str, str | bytes]] = (
        (error.trailing_metadata() or ()) if isinstance(error, grpc.Call) else ()
    )
    for key, value in trailers:
        if key == DETAILS_KEY and isinstance(value, bytes) and len(value) <= MAX_DETAILS_BYTES:
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except Exception:  # noqa: BLE001 (a malformed trailer is no detail, never a crash)
                return None
            return status
    return None


def upstream_error(error: grpc.RpcError) -> errors_pb2.UpstreamErrorDetail | None:
    """The upstream's status, message and body when an upstream error ended the call."""
    status = status_details(error)
    for any_detail in status.details if status else ():
        detail = errors_pb2.UpstreamErrorDetail()
        if any_detail.Unpack(detail):
            return detail
    return None
