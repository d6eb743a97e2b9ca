"""`sidecar serve`: assemble the gRPC server, health, reflection, the ops port and the components.

Lifecycle: bind → start components (background loads) → health SERVING once every component is
ready → on SIGTERM/SIGINT: health NOT_SERVING, refuse new calls, let in-flight calls finish within
`shutdown_grace_seconds`, close components.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from authsidecar.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc, factors_pb2, factors_pb2_grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from sidecar import __version__
from sidecar.api.account_service import AccountService
from sidecar.api.admin_service import AdminService
from sidecar.api.auth_service import AuthService
from sidecar.api.ext_authz import ExtAuthzService
from sidecar.api.rpc import InFlight
from sidecar.api.second_factor_service import SecondFactorService
from sidecar.api.verify_stream import StreamGate, raw_handler
from sidecar.config import Settings, is_local_address, memory_budget, memory_plan, pointed_at_emulator
from sidecar.observability import decision_log, logs, metrics, tracing
from sidecar.runtime import ops_http
from sidecar.runtime.assembly import Sidecar
from sidecar.runtime.httpserve import AsgiServer
from sidecar.runtime.reload import ConfigReloader

log = logs.get("server")

AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
EXT_AUTHZ_SERVICE = external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name
READINESS_POLL_SECONDS = 0.1


class Server:
    """One running sidecar: gRPC + ops port (+ the embedded emulator when emulator.mode is on)."""

    def __init__(self, settings: Settings, config_path: str | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.reloader: ConfigReloader | None = None
        self.inflight: InFlight | None = None
        self.ext_authz: ExtAuthzService | None = None
        self._reload_task: asyncio.Task | None = None
        self.emulator: AsgiServer | None = None
        self.sidecar: Sidecar | None = None
        self.grpc: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self.ops: AsgiServer | None = None
        self.draining = False
        self._watch: asyncio.Task | None = None
        self.services: tuple[str, ...] = (AUTH_SERVICE,)  # gRPC services served (health, reflection)
        self.streams = StreamGate(settings.limits.verify_streams_max)  # open VerifyStreams; told of the drain

    async def start(self) -> None:
        settings = self.settings
        if settings.uses_emulator:
            from sidecar.emulator.asgi import build_app  # noqa: PLC0415 (a real deployment never loads the emulator)

            base = f"http://{settings.emulator.listen}"
            self.emulator = AsgiServer(build_app(base), settings.emulator.listen, "emulator")
            await self.emulator.start()
            settings = self.settings = pointed_at_emulator(settings, base)
            log.info("embedded upstream emulator listening", extra={"url": base})
        elif not settings.platform.base_url:
            log.warning(
                "platform.base_url is empty: session and approval RPCs answer UPSTREAM_UNAVAILABLE "
                "(the emulator is embedded only with emulator.mode: on, or by `sidecar run`)"
            )
        self.sidecar = Sidecar(settings)
        self.grpc = grpc.aio.server(options=grpc_options(settings), maximum_concurrent_rpcs=max_rpcs(settings))
        # One limit for the process's unary calls, one for its server streams, one for VerifyStream items.
        lim = settings.limits
        inflight = self.inflight = InFlight(
            lim.max_in_flight, max_streams=lim.max_streams, max_items=lim.verify_stream_items_max
        )
        metrics.RPC_IN_FLIGHT.set_function(inflight.total)
        auth = tracing.when_off(AuthService(self.sidecar, inflight, self.streams))
        auth_pb2_grpc.add_AuthServiceServicer_to_server(auth, self.grpc)
        # VerifyStream items arrive as bytes, each decoded on its own (verify_stream.py)
        self.grpc.add_registered_method_handlers(AUTH_SERVICE, {"VerifyStream": raw_handler(auth.VerifyStream)})
        if settings.ext_authz.enabled:
            self.ext_authz = tracing.when_off(ExtAuthzService(self.sidecar, inflight))
            external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self.ext_authz, self.grpc)
            self.services = (AUTH_SERVICE, EXT_AUTHZ_SERVICE)
        extra_services = _add_factor_services(self.sidecar, self.grpc, inflight)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (
                *self.services,
                *extra_services,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.grpc,
        )
        for name in ("", *self.services):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        for address in settings.listen:
            _bind(self.grpc, address, settings)
        await self.grpc.start()
        self.ops = AsgiServer(_ops_app(self), settings.ops_listen, "ops")
        await self.ops.start()
        await self.sidecar.start()
        self._watch = asyncio.create_task(self._watch_readiness(), name="readiness")
        metrics.BUILD_INFO.info({"version": __version__})
        decision_log.DECISIONS.configure(settings.decision_log)
        if self.config_path:
            emulator_base = f"http://{settings.emulator.listen}" if self.emulator else None
            self.reloader = ConfigReloader(
                self.config_path,
                settings,
                self.apply,
                adjust=lambda s: pointed_at_emulator(s, emulator_base) if emulator_base else s,
            )
            self._reload_task = asyncio.create_task(self.reloader.run(), name="config-reload")
        # What startup allocated (modules, descriptors, config, caches' shells) lives as long as the
        # process: freeze it so the collector's passes while serving only scan what calls allocate.
        gc.collect()
        gc.freeze()
        log.info("listening", extra={"grpc": ",".join(settings.listen), "ops": settings.ops_listen})
        _report_memory_plan(settings)

    def apply(self, settings: Settings) -> None:
        """Live reload, all or nothing: if a step fails, every step is taken again with the settings
        that were running (no await in between, so no call sees either half), then the error is raised."""
        assert self.sidecar is not None
        # Limits is updated in place (the gRPC services hold it): keep a copy of the running values.
        running = dataclasses.replace(self.settings, limits=dataclasses.replace(self.settings.limits))
        try:
            self._apply(settings)
        except Exception:
            try:
                self._apply(running)
            except Exception:  # not expected: the running settings were taken once already
                log.exception("rolling back a failed reload failed too; restart the sidecar")
            raise

    def _apply(self, settings: Settings) -> None:
        """What sidecar/runtime/reload.py allows to change, handed to everything that holds it."""
        assert self.sidecar is not None and self.inflight is not None
        logs.set_level(settings.log_level)
        self.sidecar.reload(settings)
        self.inflight.limit = settings.limits.max_in_flight
        if self.inflight.streams is not self.inflight:
            self.inflight.streams.limit = settings.limits.max_streams
        if self.inflight.items is not self.inflight:
            self.inflight.items.limit = settings.limits.verify_stream_items_max
        self.streams.max_streams = settings.limits.verify_streams_max
        if self.ext_authz is not None:
            self.ext_authz.reload(self.sidecar.settings)
        decision_log.DECISIONS.configure(settings.decision_log)
        _report_memory_plan(self.sidecar.settings)  # cache capacities may have changed
        self.settings = self.sidecar.settings

    def request_reload(self) -> None:
        if self.reloader is not None:
            self.reloader.request()

    def readiness(self) -> tuple[bool, dict]:
        if self.sidecar is None:
            return False, {"server": "starting"}
        return self.sidecar.readiness()

    async def _watch_readiness(self) -> None:
        """Keep grpc.health.v1 and /readyz in step with the components (they can lose readiness)."""
        serving = None
        while not self.draining:
            ready, detail = self.readiness()
            if ready != serving:
                status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
                for name in ("", *self.services):
                    await self.health.set(name, status)
                metrics.READY.set(1 if ready else 0)
                log.info("ready" if ready else "not ready", extra={"detail": str(detail)})
                serving = ready
            await asyncio.sleep(READINESS_POLL_SECONDS)

    async def stop(self) -> None:
        """Drain: NOT_SERVING first (so load balancers and callers stop sending), then stop."""
        self.draining = True
        metrics.READY.set(0)
        await self.health.enter_graceful_shutdown()
        log.info("draining", extra={"grace_seconds": self.settings.shutdown_grace_seconds})
        for task in (self._watch, self._reload_task):
            if task:
                task.cancel()
        self.streams.drain(self.settings.shutdown_grace_seconds)
        if self.grpc:
            await self.grpc.stop(self.settings.shutdown_grace_seconds)
        if self.sidecar:
            await self.sidecar.close()
        for http in (self.ops, self.emulator):
            if http:
                await http.stop()
        await asyncio.to_thread(tracing.shutdown)  # bounded: a dead collector does not hold the exit
        log.info("stopped")


def grpc_options(settings: Settings) -> list[tuple[str, int]]:
    """The transport's bounds, which the memory plan counts (config/memory_budget.py `Transport`); fixed at
    start (a reload of `limits` does not change them)."""
    t = memory_budget.TRANSPORT
    return [
        # Off by default: a second process binding our port by mistake must fail, not share traffic.
        ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
        ("grpc.max_receive_message_length", t.max_request_bytes),  # larger: RESOURCE_EXHAUSTED, unread
        ("grpc.max_send_message_length", t.max_response_bytes),
        # A fixed per-stream window: BDP probing grows it to ~4 MB, which a caller that sends items and
        # never reads its answers fills on every stream it opens.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", t.window_bytes),
        ("grpc.http2.write_buffer_size", t.write_buffer_bytes),
        ("grpc.max_concurrent_streams", max_rpcs(settings)),  # per connection
    ]


def max_rpcs(settings: Settings) -> int:
    """Every limit at once (plus health and reflection), no more: past it gRPC answers RESOURCE_EXHAUSTED
    without reading the request, so connections × streams can't each hold a message being received."""
    lim = settings.limits
    return lim.max_in_flight + lim.max_streams + lim.verify_streams_max + 16


def _add_factor_services(sidecar: Sidecar, server: grpc.aio.Server, limit: InFlight) -> list[str]:
    """SecondFactorService and AccountService, for the components this build has; their full names."""
    names = []
    if "second_factors" in sidecar.components:
        factors_pb2_grpc.add_SecondFactorServiceServicer_to_server(SecondFactorService(sidecar, limit), server)
        names.append(factors_pb2.DESCRIPTOR.services_by_name["SecondFactorService"].full_name)
    if "accounts" in sidecar.components:
        factors_pb2_grpc.add_AccountServiceServicer_to_server(AccountService(sidecar, limit), server)
        names.append(factors_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name)
    if sidecar.admin is not None:  # identity.admin_api: off by default, and then not registered at all
        lim = sidecar.settings.limits
        admin = AdminService(sidecar.admin, lim.max_token_bytes, lim.max_field_chars, limit)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
        names.append(admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name)
        log.warning(
            "identity.admin_api is on: AdminService forwards InAI platform-administration calls "
            "(any local caller holding an administrator's token can use them)"
        )
    return names


def _bind(server: grpc.aio.Server, address: str, settings: Settings) -> None:
    """Loopback and unix sockets are local to the pod; anything else gets TLS unless explicitly opted out."""
    if address.startswith("unix:"):
        path = address.split("://", 1)[-1] if "://" in address else address[5:]
        mode = int(settings.socket_mode, 8)
        old = os.umask(0o777 & ~mode)  # no window in which the socket has looser permissions
        try:
            bound = server.add_insecure_port(address)
        finally:
            os.umask(old)
        if bound:
            os.chmod(path, mode)
    elif is_local_address(address):
        bound = server.add_insecure_port(address)
    elif settings.tls.cert_file:
        bound = server.add_secure_port(address, _tls_credentials(settings))
    else:
        log.warning(
            "gRPC listening WITHOUT TLS on a non-loopback address (insecure_listen: true)", extra={"address": address}
        )
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}")


def _tls_credentials(settings: Settings) -> grpc.ServerCredentials:
    tls = settings.tls
    ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def _ops_app(server: Server):
    return ops_http.build_app(server.readiness, lambda: server.draining)


def _report_memory_plan(settings: Settings) -> None:
    plan = memory_plan(settings)
    metrics.MEMORY_BUDGET_BYTES.set(plan.budget_bytes)
    for dotted, entries in plan.sizes.items():
        metrics.CACHE_CAPACITY.labels(dotted).set(entries)
    log.info(
        "memory budget",
        extra={
            "budget_mb": plan.budget_bytes >> 20,
            "source": plan.source,
            "estimate_full_mb": plan.estimate_bytes >> 20,
            "transport_mb": plan.transport_bytes >> 20,
            "cache_entries": ",".join(f"{k}={v}" for k, v in plan.sizes.items()),
        },
    )


async def serve(
    settings: Settings,
    after_start: Callable[[Server], Coroutine[Any, Any, None]] | None = None,
    config_path: str | None = None,
) -> int:
    """Run until SIGTERM or SIGINT (SIGHUP reloads `config_path`); returns the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = Server(settings, config_path)
    loop.add_signal_handler(signal.SIGHUP, server.request_reload)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        await server.stop()
        return 1
    extra: asyncio.Task[None] | None = asyncio.create_task(after_start(server)) if after_start else None
    await stop.wait()
    if extra:
        extra.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await extra
    await server.stop()
    return 0
