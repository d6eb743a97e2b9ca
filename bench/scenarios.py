"""The benchmark scenarios, grouped by the sidecar configuration they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grpc_health.v1 import health_pb2

from .harness import Scenario


@dataclass
class Group:
    names: list[str]
    build: Callable            # (emulator, sidecar) -> list[Scenario | callable]
    config: dict = field(default_factory=dict)


def groups(quick: bool) -> list[Group]:
    return [Group(["floor"], _floor)]


def _floor(emulator, sidecar) -> list[Scenario]:
    # The limit of this stack: the cheapest RPC on the same grpc.aio server.
    return [Scenario("floor", "/grpc.health.v1.Health/Check",
                     [health_pb2.HealthCheckRequest().SerializeToString()], concurrency=32,
                     notes="grpc.health.v1 Check: no work, the ceiling of the server stack")]
