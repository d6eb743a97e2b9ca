"""authsidecar_client.client covers the whole AuthService contract; its retry list names only real read-only RPCs."""

from __future__ import annotations

import re

from authsidecar.v1 import auth_pb2 as pb
from authsidecar_client import client

SERVICE = pb.DESCRIPTOR.services_by_name["AuthService"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_rpc_has_a_method_on_both_clients():
    for method in SERVICE.methods:
        assert callable(getattr(client.AsyncClient, snake(method.name), None)), method.name
        assert callable(getattr(client.Client, snake(method.name), None)), method.name


def test_retried_rpcs_exist_and_never_spend_one_time_tokens():
    assert set(SERVICE.methods_by_name) >= client.IDEMPOTENT
    assert not client.IDEMPOTENT & {"VerifyApproval", "ValidateChallenge", "Track", "EnrollVerifiedAuthenticator"}
