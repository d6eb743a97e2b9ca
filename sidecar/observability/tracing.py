"""OpenTelemetry traces, configured by the standard OTEL_* environment and off unless it asks.

On when OTEL_TRACES_EXPORTER lists `otlp` (and OTEL_SDK_DISABLED is not true). Then:
- the exporter is OTLP over OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: `grpc` (the default here, as in
  the Python SDK's own auto-configuration) or `http/protobuf`, to OTEL_EXPORTER_OTLP_ENDPOINT;
- the sampler is the SDK's (OTEL_TRACES_SAMPLER / _ARG; default parent-based always-on), the
  service name `authsidecar` unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise;
- every RPC gets a server span named by its method, parented by the W3C `traceparent` in the gRPC
  metadata (for ext_authz Check, by the checked HTTP request's own headers when the metadata has
  none); every upstream HTTP request (httpx instrumentation), JWKS fetch and SSE reconnect a span.
- Only `traceparent` crosses the sidecar, both ways (the one propagator, set as the global one that
  the httpx instrumentation injects with): a caller's `tracestate` and `baggage` are neither read
  nor sent to an upstream — they are the caller's data, not ours to hand to a platform.
- Who may decide sampling: a gRPC caller (a service in the pod) is trusted, its sampled flag is
  honoured by the parent-based samplers. An ext_authz Check relays anyone's request — the checked
  request's headers and the proxy's metadata (Envoy's sampling follows its client) — so its parent
  lends the trace id, never the decision, which is our sampler's own (taken as for a new trace): an
  outsider's `-01` can't make us record and export every Check.

Spans carry bounded labels only (method, outcome, reason, source, issuer, rule, upstream endpoint):
never a token, phone, session id or user id — upstream URLs are cut to scheme://host, as paths can
carry codes and ids. Export runs on the SDK's batch thread: an unreachable collector costs the calls
nothing; its spans are dropped and counted (authsidecar_trace_spans_dropped_total).
Off, the RPC path pays one module-attribute check.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sidecar.observability import logs, metrics

log = logs.get("tracing")

ENABLED = False
SHUTDOWN_WAIT_SECONDS = 2.0
# ext_authz registers how to read the checked HTTP request's headers: the fallback parent, untrusted (trace id only).
CARRIERS: dict[str, Callable[[Any], Mapping[str, str]]] = {}
# The upstream and endpoint label of the HTTP request being sent (named in its client span).
UPSTREAM_ENDPOINT: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "upstream_endpoint", default=None
)

_tracer: Any = None
_provider: Any = None
_otel: Any = None  # (propagator, trace module), imported once tracing is on
_otel_context: Any = None  # opentelemetry.context, once tracing is on
_ids: Any = None  # the provider's id generator (_DecidedIds), once tracing is on
_drop: Any = None  # what `_dropped_root` builds with, imported once tracing is on


def wanted(env: Mapping[str, str]) -> bool:
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",")}
    return "otlp" in exporters and env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def setup(env: Mapping[str, str] | None = None) -> bool:
    """Install the tracer provider, exporter and httpx instrumentation if the environment asks."""
    global ENABLED, _tracer, _provider, _otel
    env = os.environ if env is None else env
    if ENABLED or not wanted(env):
        return ENABLED
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    ).strip()
    exporter_class: type[Any]
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

        exporter_class = GrpcExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

        exporter_class = HttpExporter
    else:
        log.error(
            "tracing off: OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf", extra={"protocol": protocol[:40]}
        )
        return False
    from opentelemetry import context as otel_context  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry import propagate, trace  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, set_span_in_context  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

    global _otel_context, _ids, _drop
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    _ids = _decided_ids()
    _provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": "authsidecar"}), id_generator=_ids
    )
    _otel_context = otel_context
    _drop = (NonRecordingSpan, SpanContext, SpanKind.SERVER, TraceFlags(TraceFlags.DEFAULT), set_span_in_context)
    _provider.add_span_processor(_counting_processor(_CountingExporter(exporter_class())))
    trace.set_tracer_provider(_provider)
    _tracer = trace.get_tracer("authsidecar")
    propagator = _traceparent_only()
    propagate.set_global_textmap(propagator)  # what the httpx instrumentation injects upstream
    _otel = (propagator, trace)
    # The SDK warns per dropped span and per export retry; drops are counted in a metric instead.
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    HTTPXClientInstrumentor().instrument(tracer_provider=_provider, async_request_hook=_name_upstream_span)
    ENABLED = True
    sampler = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    log.info("tracing on", extra={"protocol": protocol, "sampler": sampler})
    return True


def shutdown() -> None:
    """Flush what is queued, waiting at most SHUTDOWN_WAIT_SECONDS (a dead collector must not hold the exit)."""
    if _provider is None:
        return
    worker = threading.Thread(target=_provider.shutdown, name="otel-shutdown", daemon=True)
    worker.start()
    worker.join(SHUTDOWN_WAIT_SECONDS)


# --- server spans ---------------------------------------------------------------------------------
def traced(method: str, run: Callable) -> Callable:
    """Wrap a unary RPC handler (self, request, context) in a server span when tracing is on."""

    @functools.wraps(run)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        if not ENABLED:
            return await run(self, request, context)
        if method not in CARRIERS and not _has_traceparent(context):
            dropped = _dropped_root(method)
            if dropped is not None:  # most calls at a low ratio: no span machinery, only its context
                token = _otel_context.attach(dropped)
                try:
                    return await run(self, request, context)
                finally:
                    _otel_context.detach(token)
        with _server_span(method, request, context):
            return await run(self, request, context)

    wrapper.untraced = run  # type: ignore[attr-defined]
    return wrapper


def when_off(servicer: Any) -> Any:
    """With tracing off, `servicer`'s RPC methods bound without their span wrapper, so a call pays one
    coroutine layer fewer. Tracing is decided at start (cli), before the server builds its servicers."""
    if not ENABLED:
        for name in dir(type(servicer)):
            bare = getattr(getattr(type(servicer), name, None), "untraced", None)
            if bare is not None:
                setattr(servicer, name, types.MethodType(bare, servicer))
    return servicer


def traced_stream(method: str, run: Callable) -> Callable:
    """Wrap a server-streaming handler: one span for the stream, an event per message sent."""

    @functools.wraps(run)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        if not ENABLED:
            async for message in run(self, request, context):
                yield message
            return
        with _server_span(method, request, context) as span:
            async for message in run(self, request, context):
                span.add_event("message")
                yield message

    return wrapper


def server_stream(method: str) -> Callable[[Callable], Callable]:
    """`traced_stream` as a decorator."""
    return lambda run: traced_stream(method, run)


def item(method: str, work: Any) -> Any:
    """One item of a stream (a coroutine) in its own child span named by its method, when tracing is on."""
    if not ENABLED:
        return work
    return _item(method, work)


async def _item(method: str, work: Any) -> Any:
    with _tracer.start_as_current_span(
        method, record_exception=False, set_status_on_exception=False, attributes={"rpc.method": method}
    ):
        return await work


@contextlib.contextmanager
def _server_span(method: str, request: Any, context: Any) -> Iterator[Any]:
    propagator, trace = _otel
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    parent = propagator.extract(metadata)  # a gRPC caller: trusted, its sampled flag included
    carrier = CARRIERS.get(method)
    if carrier is not None:
        # A Check relays the internet's trace context: the checked request's headers, and the proxy's
        # metadata too (Envoy's sampling follows its client's flag). Trace id yes, decision ours.
        if not trace.get_current_span(parent).get_span_context().is_valid:
            # a malformed request has no usable parent; the span starts a trace
            with contextlib.suppress(Exception):
                parent = propagator.extract(carrier(request))
        parent = _untrusted_parent(method, parent)
    with _tracer.start_as_current_span(
        method,
        context=parent,
        kind=trace.SpanKind.SERVER,
        record_exception=False,
        set_status_on_exception=False,
        attributes={"rpc.system": "grpc", "rpc.method": method},
    ) as span:
        yield span


def _has_traceparent(context: Any) -> bool:
    return any(key == "traceparent" for key, _ in context.invocation_metadata() or ())


def _dropped_root(method: str) -> Any:
    """A call with no parent: our sampler's decision on a new trace id, made here once. Dropped: the
    context of a non-recording span with that id (what the SDK would make, without its span machinery,
    so upstream spans stay unsampled children). Sampled: None, and the SDK's span takes that same trace
    id (`_DecidedIds`), so its sampler, asked again, says the same (the built-in samplers decide by
    trace id alone): the ratio is unchanged."""
    non_recording, span_context, server, unsampled, in_context = _drop
    trace_id = _ids.generate_trace_id()
    if _provider.sampler.should_sample(None, trace_id, method, server).decision.is_sampled():
        _ids.decided = trace_id
        return None
    span = span_context(trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=unsampled)
    return in_context(non_recording(span))


def _decided_ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

    class _DecidedIds(RandomIdGenerator):
        """Random ids, except the next trace id once `_dropped_root` has decided to sample it (the
        span is started right after, on the same thread: nothing can take it in between)."""

        decided: int | None = None

        def generate_trace_id(self) -> int:
            trace_id, self.decided = self.decided, None
            return trace_id if trace_id is not None else super().generate_trace_id()

    return _DecidedIds()


def _untrusted_parent(method: str, extracted: Any) -> Any:
    """An outsider's parent: its trace id kept, its sampled flag replaced by our sampler's decision
    for a new trace with that id (so parent-based samplers follow us, not the sender)."""
    from opentelemetry.context import Context  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, set_span_in_context  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

    theirs = _otel[1].get_current_span(extracted).get_span_context()
    if not theirs.is_valid:
        return extracted
    ours = _provider.sampler.should_sample(Context(), theirs.trace_id, method, SpanKind.SERVER).decision
    flags = TraceFlags(TraceFlags.SAMPLED if ours.is_sampled() else TraceFlags.DEFAULT)
    return set_span_in_context(
        NonRecordingSpan(SpanContext(theirs.trace_id, theirs.span_id, is_remote=True, trace_flags=flags))
    )


def _traceparent_only() -> Any:
    """W3C Trace Context without tracestate: reads and writes `traceparent` alone (and no baggage,
    which is a propagator of its own that we do not install)."""
    from opentelemetry.propagators.textmap import default_setter  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

    class TraceparentOnly(TraceContextTextMapPropagator):
        def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
            only = {k: v for k, v in carrier.items() if k.lower() == "traceparent"}
            return super().extract(only, context)

        def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
            super().inject(carrier, context, _OnlyTraceparent(setter))  # type: ignore[arg-type]  # a duck-typed Setter

        @property
        def fields(self) -> set[str]:
            return {"traceparent"}

    class _OnlyTraceparent:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def set(self, carrier: Any, key: str, value: str) -> None:
            if key == "traceparent":
                self.inner.set(carrier, key, value)

    return TraceparentOnly()


def recording() -> bool:
    """Whether the current span records (tracing on and this call sampled)."""
    return ENABLED and _otel[1].get_current_span().is_recording()


def annotate(**labels: str) -> str:
    """Set bounded labels on the current span (empty ones skipped); its trace id in hex, or "" when
    there is no sampled trace to look up."""
    span = _otel[1].get_current_span()
    ctx = span.get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):
        return ""
    if span.is_recording():
        for name, value in labels.items():
            if value:
                span.set_attribute(f"authsidecar.{name}", value)
    return format(ctx.trace_id, "032x")


@contextlib.contextmanager
def span(name: str, **labels: str) -> Iterator[None]:
    """An internal span (JWKS fetch, SSE reconnect) when tracing is on; nothing otherwise."""
    if not ENABLED:
        yield
        return
    with _tracer.start_as_current_span(
        name, record_exception=False, attributes={f"authsidecar.{k}": v for k, v in labels.items() if v}
    ):
        yield


# --- upstream client spans ------------------------------------------------------------------------
async def _name_upstream_span(span: Any, request: Any) -> None:
    """Name the httpx span by our endpoint label and cut URLs to scheme://host (paths carry ids)."""
    url = request.url if hasattr(request, "url") else request[1]
    scheme = url.scheme.decode() if isinstance(url.scheme, bytes) else str(url.scheme)
    host = url.host.decode() if isinstance(url.host, bytes) else str(url.host)
    port = f":{url.port}" if url.port else ""
    base = f"{scheme}://{host}{port}/"
    for attribute in ("http.url", "url.full"):
        if attribute in (getattr(span, "attributes", None) or {}):
            span.set_attribute(attribute, base)
    label = UPSTREAM_ENDPOINT.get()
    if label is not None:
        upstream, endpoint = label
        method = request.method.decode() if hasattr(request, "method") else request[0].decode()
        span.update_name(f"{method} {upstream}")
        span.set_attribute("authsidecar.upstream", upstream)
        span.set_attribute("authsidecar.endpoint", endpoint)


def _counting_processor(exporter: Any) -> Any:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

    class CountingBatchProcessor(BatchSpanProcessor):
        def on_end(self, span: Any) -> None:
            inner = getattr(self, "_batch_processor", None)
            queue = getattr(inner, "_queue", None)
            if queue is not None and len(queue) >= getattr(inner, "_max_queue_size", float("inf")):
                metrics.TRACE_SPANS_DROPPED_TOTAL.inc()  # the SDK drops the oldest queued span
            super().on_end(span)

    return CountingBatchProcessor(exporter)


class _CountingExporter:
    """The OTLP exporter, counting what it delivered and what it had to drop."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415 (OpenTelemetry loads only when tracing is on)

        try:
            result = self._inner.export(spans)
        except Exception:  # the exporter must never take the batch thread down
            result = SpanExportResult.FAILURE
        if result == SpanExportResult.SUCCESS:
            metrics.TRACE_SPANS_EXPORTED_TOTAL.inc(len(spans))
        else:
            metrics.TRACE_SPANS_DROPPED_TOTAL.inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
