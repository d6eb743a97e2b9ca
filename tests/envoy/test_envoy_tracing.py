"""Traces through the real Envoy: the client's trace reaches the app and the sidecar's Check span,
and the span names the same decision id as the app's header."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import httpx
import pytest
from envoy_harness import EnvoyProcess, headers_of, overlay, rewrite, sidecar_settings
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from harness.container import start_sidecar
from harness.processes import wait_until

TRACE_ID, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC collector that keeps every span (the sidecar's and Envoy's)."""

    def __init__(self) -> None:
        self.spans: list = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def Export(self, request, context):  # noqa: N802
        with self.lock:
            self.spans.extend(s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def named(self, name: str) -> list:
        with self.lock:
            return [s for s in self.spans if s.name == name and s.trace_id.hex() == TRACE_ID]


@pytest.fixture(scope="module")
def traced(_emulator_process, issuer, apps, tmp_path_factory) -> Iterator[tuple]:
    tmp = tmp_path_factory.mktemp("traced")
    sink = Receiver()
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    sidecar = start_sidecar(sidecar_settings(_emulator_process.url, issuer), tmp, env)
    envoy = None
    try:
        sidecar.wait_for("SERVING")
        envoy = EnvoyProcess(
            rewrite(overlay(), {"authsidecar": sidecar.grpc_port, "app": apps[0].port, "otel-collector": sink.port}),
            tmp,
            "envoy-traced",
        )
        yield envoy, apps[0], issuer, sink
    finally:
        if envoy is not None:
            envoy.stop()
        sidecar.stop()
        sink.server.stop(0)


def test_the_clients_trace_reaches_the_app_and_the_check_span_under_envoys(traced):
    envoy, app, issuer, sink = traced
    app.take()
    with httpx.Client(timeout=10, trust_env=False) as c:
        r = c.get(
            envoy.url() + "/api/orders",
            headers={"authorization": f"Bearer {issuer.token()}", "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
        )
    assert r.status_code == 200
    h = headers_of(app.take()[0])
    assert h["traceparent"][0].split("-")[1] == TRACE_ID
    wait_until(lambda: sink.named("Check"), timeout=15, step=0.05, what="the sidecar's Check span")
    (span,) = sink.named("Check")
    attrs = {kv.key: kv.value.string_value for kv in span.attributes}
    assert attrs["authsidecar.decision_id"] == h["x-authsidecar-decision-id"][0]
    assert attrs["authsidecar.rule"] == "api"
    # Its parent is Envoy's span (sent in the ext_authz call's metadata), not the client's directly.
    assert span.parent_span_id.hex() not in ("", CLIENT_SPAN)
