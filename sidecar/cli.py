"""The `sidecar` command.

sidecar serve    [--config FILE]            run the sidecar (the emulator only with emulator.mode: on)
sidecar run      [--config FILE]            serve, then show it working with demo calls (embeds the
                                            emulator when platform.base_url is empty)
sidecar emulator [--listen HOST:PORT]       run the upstream emulator on its own
sidecar call RPC [field=value ...]          call an AuthService RPC and print the JSON answer
sidecar health   [--target ADDR]            grpc.health.v1 Check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from sidecar import config
from sidecar.observability import logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sidecar", description="authsidecar: localhost gRPC auth sidecar")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run the sidecar"), ("run", "run the sidecar and show it working")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", help="YAML settings file (environment AUTHSIDECAR_* overrides it)")
    p = sub.add_parser("emulator", help="run the upstream emulator")
    p.add_argument("--listen", default="127.0.0.1:8900")
    p = sub.add_parser("call", help="call an AuthService RPC; fields as name=value (lists comma-separated)")
    p.add_argument("rpc")
    p.add_argument("fields", nargs="*")
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--json", help="the request as a JSON object instead of name=value pairs")
    p.add_argument("--timeout", type=float, default=5.0)
    p = sub.add_parser("health", help="grpc.health.v1 Check")
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--service", default="")
    args = parser.parse_args(argv)

    if args.command in ("serve", "run"):
        return _serve(args.config, demo=args.command == "run")
    if args.command == "emulator":
        return _emulator(args.listen)
    if args.command == "call":
        from authsidecar_client.cli import call  # noqa: PLC0415 (each subcommand loads only what it runs)

        return call(args.target, args.rpc, args.fields, args.json, args.timeout)
    if args.command == "health":
        return _health(args.target, args.service)
    return 2


def _serve(config_path: str | None, demo: bool) -> int:
    try:
        settings = config.load(config_path, demo=demo)
    except config.ConfigError as exc:
        print(f"authsidecar: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if demo and settings.uses_emulator:
        # Reloads read the file again without `demo`: keep the emulator they'd otherwise find removed.
        os.environ.setdefault("AUTHSIDECAR_EMULATOR_MODE", "on")
    logs.setup(settings.log_level)
    from sidecar.observability import tracing  # noqa: PLC0415 (each subcommand loads only what it runs)

    tracing.setup()  # off unless OTEL_TRACES_EXPORTER=otlp
    from sidecar.runtime.server import serve  # noqa: PLC0415 (each subcommand loads only what it runs)

    after = None
    if demo:
        from sidecar.runtime.demo import show  # noqa: PLC0415 (each subcommand loads only what it runs)

        after = show
    return asyncio.run(serve(settings, after, config_path))


def _emulator(listen: str) -> int:
    logs.setup("info")
    from sidecar.emulator.asgi import build_app  # noqa: PLC0415 (each subcommand loads only what it runs)
    from sidecar.runtime.httpserve import AsgiServer  # noqa: PLC0415 (each subcommand loads only what it runs)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = AsgiServer(build_app(f"http://{listen}"), listen, "emulator")
        await server.start()
        print(json.dumps({"emulator": f"http://{listen}"}), flush=True)
        await stop.wait()
        await server.stop()
        return 0

    return asyncio.run(run())


def _health(target: str, service: str) -> int:
    """grpc.health.v1 Check (an operator's command: grpcio-health-checking is the server's, not the client's)."""
    import grpc  # noqa: PLC0415 (each subcommand loads only what it runs)
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415 (same)

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]  # types-grpcio-health-checking: HealthStub lists no methods
                health_pb2.HealthCheckRequest(service=service), timeout=3
            )
        except grpc.RpcError as err:
            print(json.dumps({"code": err.code().name, "details": err.details()}), file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(status)
    return 0 if status == "SERVING" else 1
