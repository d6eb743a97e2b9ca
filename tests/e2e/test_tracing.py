"""OpenTelemetry traces from a real sidecar process into a real OTLP receiver (the collector's TraceService
from opentelemetry-proto, served by this test over gRPC, and over HTTP for http/protobuf): server spans
parented by the caller's traceparent, child spans for upstream calls, bounded attributes, no secrets."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from envoy_wire import CHECK_METHOD, check_request, read_check_response
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from test_sessions import PHONE, control, new_session
from test_verify_token import mint

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import free_port, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SERVER, CLIENT = 2, 3  # Span.SpanKind numbers in the OTLP proto


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with its resource's service.name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 (the generated servicer's naming)
        self.take(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def take(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            for rs in request.resource_spans:
                service = _attrs(rs.resource.attributes).get("service.name", "")
                for scope in rs.scope_spans:
                    self.spans.extend((service, s) for s in scope.spans)

    def named(self, name: str, trace_id: str | None = None) -> list:
        with self.lock:
            return [s for _, s in self.spans if s.name == name and (trace_id is None or s.trace_id.hex() == trace_id)]


def _attrs(kvs) -> dict[str, str]:
    return {kv.key: kv.value.string_value or str(kv.value.int_value or kv.value.bool_value or "") for kv in kvs}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, int]]:
    sink = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield sink, port
    server.stop(0)


def otel_env(endpoint: str, protocol: str = "grpc") -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }


@pytest.fixture
def traced(sidecar_factory, receiver, tmp_path):
    sink, port = receiver
    sc = sidecar_factory(
        {
            "ext_authz": {"rules": [{"name": "api", "path_prefix": "/api", "checks": ["jwt"]}]},
            "decision_log": {"enabled": True, "path": str(tmp_path / "decisions.jsonl")},
        },
        env=otel_env(f"http://127.0.0.1:{port}"),
    )
    sc.decisions = lambda: [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    return sc, sink


def one(sink: Receiver, name: str, trace_id: str) -> object:
    wait_until(lambda: sink.named(name, trace_id), timeout=10, what=f"span {name} received")
    (span,) = sink.named(name, trace_id)
    return span


def test_a_unary_call_is_a_server_span_under_the_callers_traceparent(traced, emulator):
    sc, sink = traced
    token = mint(emulator, claims={"sub": "user-77"})
    answer = sc.stub.VerifyToken(
        pb.VerifyTokenRequest(token=token), metadata=[("traceparent", TRACEPARENT)], timeout=10
    )
    assert answer.valid
    span = one(sink, "VerifyToken", TRACE_ID)
    assert span.parent_span_id.hex() == PARENT_ID and span.kind == SERVER
    attrs = _attrs(span.attributes)
    assert attrs["rpc.method"] == "VerifyToken" and attrs["authsidecar.outcome"] == "valid"
    assert attrs["authsidecar.issuer"] == f"{emulator.url}/issuers/main"
    assert attrs["authsidecar.source"] in ("local", "cache")
    services = {service for service, s in sink.spans if s.trace_id.hex() == TRACE_ID}
    assert services == {"authsidecar"}
    assert [d["trace_id"] for d in sc.decisions() if d.get("method") == "VerifyToken"] == [TRACE_ID]
    # The background JWKS load has its own trace: a jwks.fetch span with the HTTP GET under it.
    wait_until(lambda: sink.named("jwks.fetch"), timeout=10, what="jwks.fetch span")
    fetch = sink.named("jwks.fetch")[0]
    children = [s for _, s in sink.spans if s.parent_span_id == fetch.span_id]
    assert children and all(s.kind == CLIENT for s in children)
    everything = repr([s for _, s in sink.spans])
    assert token not in everything and token.split(".")[2] not in everything and "user-77" not in everything


def test_an_upstream_call_is_a_child_span_and_carries_the_trace_on(traced, emulator):
    sc, sink = traced
    session = new_session(emulator)
    emulator.reset()
    answer = sc.stub.VerifySession(
        pb.VerifySessionRequest(session_token=session, phone=PHONE), metadata=[("traceparent", TRACEPARENT)], timeout=10
    )
    assert answer.valid
    server = one(sink, "VerifySession", TRACE_ID)
    wait_until(
        lambda: [s for s in sink.named("POST platform", TRACE_ID) if s.parent_span_id == server.span_id],
        timeout=10,
        what="the upstream span under the server span",
    )
    (client,) = [s for s in sink.named("POST platform", TRACE_ID) if s.parent_span_id == server.span_id]
    attrs = _attrs(client.attributes)
    assert client.kind == CLIENT and attrs["authsidecar.upstream"] == "platform"
    assert attrs.get("url.full", attrs.get("http.url")) == f"{emulator.url}/"  # the path is cut
    assert _attrs(server.attributes)["authsidecar.source"] == "upstream"
    # The platform was told the same trace (W3C traceparent on the upstream request).
    sent = [r for r in emulator.requests() if r["path"].endswith("/session/status")]
    assert sent and sent[-1]["headers"]["traceparent"].split("-")[1] == TRACE_ID
    everything = repr([s for _, s in sink.spans])
    assert session not in everything and PHONE not in everything and PHONE[1:] not in everything


def test_an_ext_authz_check_is_parented_by_the_checked_requests_traceparent(traced, emulator):
    sc, sink = traced
    token = mint(emulator)
    check = sc.channel.unary_unary(CHECK_METHOD)
    raw = check_request("GET", "/api/orders", {"authorization": f"Bearer {token}", "traceparent": TRACEPARENT})
    answer = read_check_response(check(raw, timeout=10))
    assert answer.allowed  # no traceparent in the gRPC metadata
    span = one(sink, "Check", TRACE_ID)
    assert span.parent_span_id.hex() == PARENT_ID and span.kind == SERVER
    attrs = _attrs(span.attributes)
    assert (attrs["authsidecar.rule"], attrs["authsidecar.outcome"]) == ("api", "allow")
    assert attrs["authsidecar.decision_id"] == answer.headers["x-authsidecar-decision-id"]  # the app's id
    assert attrs["authsidecar.issuer"] == f"{emulator.url}/issuers/main"
    assert token not in repr([s for _, s in sink.spans])


class _HttpReceiver(http.server.BaseHTTPRequestHandler):
    sink: Receiver

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        self.sink.take(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


def test_http_protobuf_export_and_a_dead_collector_never_fails_a_call(sidecar_factory, emulator):
    sink = Receiver()
    handler = type("Handler", (_HttpReceiver,), {"sink": sink})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sc = sidecar_factory(env=otel_env(f"http://127.0.0.1:{server.server_address[1]}", "http/protobuf"))
        sc.stub.VerifyToken(
            pb.VerifyTokenRequest(token=mint(emulator)), metadata=[("traceparent", TRACEPARENT)], timeout=10
        )
        one(sink, "VerifyToken", TRACE_ID)
    finally:
        server.shutdown()
        server.server_close()
    dead = sidecar_factory(env=otel_env(f"http://127.0.0.1:{free_port()}"))
    token = mint(emulator)
    for _ in range(20):
        assert dead.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=5).valid
    wait_until(
        lambda: dead.metric("authsidecar_trace_spans_dropped_total") >= 20, timeout=15, what="spans counted as dropped"
    )
    assert dead.metric("authsidecar_trace_spans_exported_total") == 0


def test_a_verify_stream_is_one_span_with_a_child_span_and_a_decision_line_per_item(traced, emulator):
    sc, sink = traced
    trace = uuid.uuid4().hex  # its own trace: the receiver keeps the other tests' spans
    tokens = [mint(emulator, claims={"sub": f"user-{i}"}) for i in range(3)]
    items = [pb.VerifyStreamRequest(id=i, verify_token=pb.VerifyTokenRequest(token=t)) for i, t in enumerate(tokens)]
    metadata = [("traceparent", f"00-{trace}-{PARENT_ID}-01")]
    answers = list(sc.stub.VerifyStream(iter(items), metadata=metadata, timeout=10))
    assert sorted(a.id for a in answers) == [0, 1, 2] and all(a.verify_token.valid for a in answers)
    stream = one(sink, "VerifyStream", trace)
    assert stream.parent_span_id.hex() == PARENT_ID and stream.kind == SERVER
    wait_until(lambda: len(sink.named("VerifyToken", trace)) == 3, timeout=10, what="three item spans")
    for span in sink.named("VerifyToken", trace):
        assert span.parent_span_id == stream.span_id
        assert _attrs(span.attributes)["authsidecar.outcome"] == "valid"
    lines = [d for d in sc.decisions() if d.get("method") == "VerifyToken"]
    assert len(lines) == 3 and {d["trace_id"] for d in lines} == {trace}
    assert not any(t in repr([s for _, s in sink.spans]) for t in tokens)


def test_each_event_stream_connection_is_one_span_with_its_get_under_it(sidecar_factory, receiver, emulator):
    sink, port = receiver
    since = time.time_ns()
    sc = sidecar_factory(env=otel_env(f"http://127.0.0.1:{port}"))

    def connects() -> list:
        return sorted(
            (s for s in sink.named("sse.connect") if s.start_time_unix_nano >= since),
            key=lambda s: s.start_time_unix_nano,
        )

    def children(parent) -> list:
        with sink.lock:
            return [s for _, s in sink.spans if s.parent_span_id == parent.span_id]

    wait_until(lambda: connects() and children(connects()[0]), timeout=10, what="the first connection's span")
    first = connects()[0]
    assert _attrs(first.attributes)["authsidecar.after"] == "start"
    (get,) = children(first)
    assert get.kind == CLIENT and get.name.startswith("GET")
    # The span ends when the stream is open, not when the connection ends (it is still open now).
    assert sc.metric("authsidecar_sse_connected") == 1
    assert (first.end_time_unix_nano - first.start_time_unix_nano) / 1e9 < 5

    emulator.faults(sse_down=True)
    control(emulator, "stream/drop")
    wait_until(lambda: sc.metric("authsidecar_sse_connected") == 0, what="the stream dropped")
    emulator.faults(sse_down=False)
    wait_until(lambda: sc.metric("authsidecar_sse_connected") == 1, timeout=10, what="the stream back")
    wait_until(
        lambda: any(_attrs(s.attributes)["authsidecar.after"] != "start" and children(s) for s in connects()),
        timeout=10,
        what="a reconnection's span",
    )
    again = [s for s in connects() if _attrs(s.attributes)["authsidecar.after"] != "start"]
    assert "internal" not in {_attrs(s.attributes)["authsidecar.after"] for s in again}  # the cause, named


@pytest.fixture
def never_sampled(sidecar_factory, receiver):
    """Sampling at ratio 0 for new traces: only a sampled parent the sidecar trusts gets a span exported."""
    sink, port = receiver
    env = {
        **otel_env(f"http://127.0.0.1:{port}"),
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    }
    sc = sidecar_factory(
        {
            "ext_authz": {
                "rules": [
                    {"name": "api", "path_prefix": "/api", "checks": ["jwt"]},
                    {"name": "app", "path_prefix": "/app", "checks": ["session"]},
                ]
            }
        },
        env=env,
    )
    return sc, sink


def test_row16_an_outsiders_traceparent_on_a_check_never_forces_sampling(never_sampled, emulator):
    sc, sink = never_sampled
    token = mint(emulator)
    check = sc.channel.unary_unary(CHECK_METHOD)
    outsiders = {uuid.uuid4().hex for _ in range(50)}
    for trace in outsiders:
        raw = check_request(
            "GET", "/api/orders", {"authorization": f"Bearer {token}", "traceparent": f"00-{trace}-{PARENT_ID}-01"}
        )
        assert read_check_response(check(raw, timeout=10)).allowed
    relayed = {uuid.uuid4().hex for _ in range(10)}  # Envoy relays its client's flag in the metadata
    for trace in relayed:
        raw = check_request("GET", "/api/orders", {"authorization": f"Bearer {token}"})
        answer = check(raw, metadata=[("traceparent", f"00-{trace}-{PARENT_ID}-01")], timeout=10)
        assert read_check_response(answer).allowed
    outsiders |= relayed
    # A gRPC caller (a service in the pod) is trusted: its sampled parent is honoured. Its span
    # is queued after any Check span would have been, so once it is in, none of theirs is coming.
    marker = uuid.uuid4().hex
    sc.stub.VerifyToken(
        pb.VerifyTokenRequest(token=token), metadata=[("traceparent", f"00-{marker}-{PARENT_ID}-01")], timeout=10
    )
    one(sink, "VerifyToken", marker)
    with sink.lock:
        forced = [s for _, s in sink.spans if s.trace_id.hex() in outsiders]
    assert forced == []


def test_row17_only_traceparent_reaches_an_upstream_never_tracestate_or_baggage(never_sampled, emulator):
    sc, _ = never_sampled
    trace = uuid.uuid4().hex
    theirs = {"tracestate": "vendor=opaque-caller-data", "baggage": "user.id=alice"}
    first, second = new_session(emulator), new_session(emulator)
    emulator.reset()
    # A gRPC caller's metadata …
    answer = sc.stub.VerifySession(
        pb.VerifySessionRequest(session_token=first, phone=PHONE),
        timeout=10,
        metadata=[("traceparent", f"00-{trace}-{PARENT_ID}-01"), *theirs.items()],
    )
    assert answer.valid
    # … and an ext_authz Check's HTTP headers (a session rule: the platform is asked).
    raw = check_request(
        "GET",
        "/app/home",
        {
            "x-session-token": second,
            "x-user-phone": PHONE,
            "traceparent": f"00-{uuid.uuid4().hex}-{PARENT_ID}-01",
            **theirs,
        },
    )
    assert read_check_response(sc.channel.unary_unary(CHECK_METHOD)(raw, timeout=10)).allowed
    sent = [
        {k.lower(): v for k, v in r["headers"].items()}
        for r in emulator.requests()
        if r["path"].endswith("/session/status")
    ]
    assert len(sent) == 2
    assert sent[0]["traceparent"].split("-")[1] == trace  # the trace still goes on
    assert [h for r in sent for h in r if h in theirs] == []


def test_a_root_call_sampled_is_one_server_span_with_its_upstream_span_under_it(traced, emulator):
    # No traceparent: the sidecar decides (always on here) once, on the trace id the span then carries.
    sc, sink = traced
    session = new_session(emulator)
    emulator.reset()
    earlier = len(sink.named("VerifySession"))  # the receiver serves the whole module
    assert sc.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=10).valid
    wait_until(lambda: len(sink.named("VerifySession")) > earlier, timeout=10, what="the root server span")
    (server,) = sink.named("VerifySession")[earlier:]
    assert not server.parent_span_id and server.kind == SERVER
    trace_id = server.trace_id.hex()
    wait_until(lambda: sink.named("POST platform", trace_id), timeout=10, what="the upstream span")
    assert [s.parent_span_id for s in sink.named("POST platform", trace_id)] == [server.span_id]
    assert [d["trace_id"] for d in sc.decisions() if d.get("method") == "VerifySession"] == [trace_id]
    sent = [r for r in emulator.requests() if r["path"].endswith("/session/status")]
    assert sent[-1]["headers"]["traceparent"].split("-")[1] == trace_id


def test_a_root_call_not_sampled_exports_nothing_and_its_upstream_request_says_so(never_sampled, emulator):
    # Ratio 0: the unsampled fast path (no SDK span). Its upstream request still carries a traceparent,
    # unsampled (-00), so the platform's own tracing does not start a trace of its own for it.
    sc, sink = never_sampled
    session = new_session(emulator)
    emulator.reset()
    earlier = len(sink.spans)  # the receiver serves the whole module
    for _ in range(3):
        assert sc.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=10).valid
    sent = [r for r in emulator.requests() if r["path"].endswith("/session/status")]
    assert sent, "the first call asks the platform"
    version, trace_id, span_id, flags = sent[0]["headers"]["traceparent"].split("-")
    assert flags == "00" and len(trace_id) == 32 and int(trace_id, 16) != 0
    time.sleep(0.5)  # the batch processor exports every 50 ms here: nothing must arrive
    assert [s.name for _, s in sink.spans[earlier:] if s.name in ("VerifySession", "POST platform")] == []
