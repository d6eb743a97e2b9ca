"""`authsidecar_client.client`: a typed Python client for authsidecar.v1.AuthService, async and sync.

    async with AsyncClient("127.0.0.1:50051") as auth:
        answer = await auth.verify_token(token, required_scopes=["orders:read"])
        if not answer.valid: ...

    with Client("unix:///run/authsidecar.sock", timeout=0.5) as auth:
        auth.verify_session(session_token, phone="+14155552671").valid

Every call has a deadline (`timeout` seconds, per client or per call) that covers its retries.
Only idempotent calls are retried, and only on UNAVAILABLE (the sidecar restarting, a connection
reset). Calls that spend a one-time token (VerifyApproval, ValidateChallenge) or create something
(Track, EnrollVerifiedAuthenticator) are never retried: the first attempt may have consumed the token
before the connection broke, and a retry would then answer ALREADY_USED for a request that succeeded.
Errors are grpc.RpcError as raised by grpcio (INVALID_ARGUMENT names the bad field).

With `multiplex=True` the read-only calls (VerifyToken, VerifySession, IsRevoked, GetSessionStatus)
travel as items of one AuthService.VerifyStream per client instead of one RPC each: same methods, same
answers and errors, a fraction of the per-call cost when many calls are in flight (mux.py;
trade-offs in docs/clients.md).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from authsidecar_client.mux import KINDS, AsyncMultiplexer, Fallback, SyncMultiplexer

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 2
BACKOFF_SECONDS = 0.05  # first retry delay; doubles, with jitter
# Measured (docs/clients.md): the stream wins for the async client, with one caller and with many; the
# blocking client's thread hand-offs cost about what the stream saves, so there it stays opt-in.
ASYNC_MULTIPLEX_DEFAULT = True
SYNC_MULTIPLEX_DEFAULT = False

# RPCs safe to repeat: they only read (caches, upstream lookups) and spend nothing.
IDEMPOTENT = frozenset(
    {"VerifyToken", "VerifySession", "GetSessionStatus", "IsRevoked", "GetAction", "GetUser", "CheckUpstreamHealth"}
)


class _Policy:
    """Deadline and retry bookkeeping shared by the two clients (no I/O)."""

    def __init__(self, timeout: float, retries: int, backoff: float) -> None:
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive; retries and backoff must not be negative")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def attempts(self, method: str) -> int:
        return 1 + (self.retries if method in IDEMPOTENT else 0)

    def pause(self, attempt: int, deadline: float, error: grpc.RpcError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise `error`."""
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            return None
        delay = self.backoff * (2**attempt) * random.uniform(0.5, 1.0)
        return delay if time.monotonic() + delay < deadline else None


class AsyncClient:
    """AuthService over a grpc.aio channel. Use `async with` or call `close()`."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = BACKOFF_SECONDS,
        channel: grpc.aio.Channel | None = None,
        multiplex: bool = ASYNC_MULTIPLEX_DEFAULT,
    ) -> None:
        self._policy = _Policy(timeout, retries, backoff)
        self._own_channel = channel is None
        self._channel = channel or grpc.aio.insecure_channel(target)
        self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._mux = AsyncMultiplexer(self._stub) if multiplex else None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._mux is not None:
            await self._mux.close()
        if self._own_channel:
            await self._channel.close()

    async def _send(self, method: str, request: Any, deadline: float) -> Any:
        """One attempt: on the stream when multiplexing (and it can carry this call), else a unary RPC."""
        mux = self._mux
        if mux is not None and method in KINDS and mux.usable():
            try:
                return await mux.call(method, request, max(deadline - time.monotonic(), 0.001))
            except Fallback:
                pass
        return await getattr(self._stub, method)(request, timeout=max(deadline - time.monotonic(), 0.001))

    async def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        deadline = time.monotonic() + (timeout or self._policy.timeout)
        for attempt in range(self._policy.attempts(method)):
            try:
                return await self._send(method, request, deadline)
            except grpc.RpcError as error:
                last = attempt == self._policy.attempts(method) - 1
                delay = None if last else self._policy.pause(attempt, deadline, error)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def verify_token(
        self, token: str, *, audience: str = "", required_scopes: Iterable[str] = (), timeout: float | None = None
    ) -> pb.VerifyTokenResponse:
        return await self._call("VerifyToken", _token(token, audience, required_scopes), timeout)

    async def verify_session(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.VerifySessionResponse:
        request = pb.VerifySessionRequest(session_token=session_token, phone=phone, default_region=default_region)
        return await self._call("VerifySession", request, timeout)

    async def get_session_status(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.GetSessionStatusResponse:
        request = pb.GetSessionStatusRequest(session_token=session_token, phone=phone, default_region=default_region)
        return await self._call("GetSessionStatus", request, timeout)

    async def verify_approval(
        self, approval_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.VerifyApprovalResponse:
        request = pb.VerifyApprovalRequest(approval_token=approval_token, phone=phone, default_region=default_region)
        return await self._call("VerifyApproval", request, timeout)

    async def is_revoked(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.IsRevokedResponse:
        request = pb.IsRevokedRequest(session_token=session_token, phone=phone, default_region=default_region)
        return await self._call("IsRevoked", request, timeout)

    async def validate_challenge(
        self, token: str, *, user_id: str = "", action: str = "", timeout: float | None = None
    ) -> pb.ValidateChallengeResponse:
        request = pb.ValidateChallengeRequest(token=token, user_id=user_id, action=action)
        return await self._call("ValidateChallenge", request, timeout)

    async def track(
        self,
        user_id: str,
        action: str,
        *,
        custom: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.TrackResponse:
        return await self._call("Track", _track(user_id, action, custom, fields), timeout)

    async def get_action(
        self, user_id: str, action: str, idempotency_key: str, *, timeout: float | None = None
    ) -> pb.GetActionResponse:
        request = pb.GetActionRequest(user_id=user_id, action=action, idempotency_key=idempotency_key)
        return await self._call("GetAction", request, timeout)

    async def get_user(self, user_id: str, *, timeout: float | None = None) -> pb.GetUserResponse:
        return await self._call("GetUser", pb.GetUserRequest(user_id=user_id), timeout)

    async def enroll_verified_authenticator(
        self, user_id: str, verification_method: str, *, timeout: float | None = None, **fields: Any
    ) -> pb.EnrollVerifiedAuthenticatorResponse:
        request = pb.EnrollVerifiedAuthenticatorRequest(
            user_id=user_id, verification_method=verification_method, **fields
        )
        return await self._call("EnrollVerifiedAuthenticator", request, timeout)

    async def check_upstream_health(self, *, timeout: float | None = None) -> pb.CheckUpstreamHealthResponse:
        return await self._call("CheckUpstreamHealth", pb.CheckUpstreamHealthRequest(), timeout)

    def verify_stream(self, requests: Any = None, *, timeout: float | None = None) -> Any:
        """The raw VerifyStream call (VerifyStreamRequest in, VerifyStreamResponse out; no retries, and no
        deadline unless `timeout` is given): for callers that pipeline their own ids."""
        return self._stub.VerifyStream(requests, timeout=timeout)


class Client:
    """AuthService over a blocking grpc channel. Use `with` or call `close()`."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = BACKOFF_SECONDS,
        channel: grpc.Channel | None = None,
        multiplex: bool = SYNC_MULTIPLEX_DEFAULT,
    ) -> None:
        self._policy = _Policy(timeout, retries, backoff)
        self._own_channel = channel is None
        self._channel = channel or grpc.insecure_channel(target)
        self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._mux = SyncMultiplexer(self._stub) if multiplex else None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._mux is not None:
            self._mux.close()
        if self._own_channel:
            self._channel.close()

    def _send(self, method: str, request: Any, deadline: float) -> Any:
        mux = self._mux
        if mux is not None and method in KINDS and mux.usable():
            try:
                return mux.call(method, request, max(deadline - time.monotonic(), 0.001))
            except Fallback:
                pass
        return getattr(self._stub, method)(request, timeout=max(deadline - time.monotonic(), 0.001))

    def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        deadline = time.monotonic() + (timeout or self._policy.timeout)
        for attempt in range(self._policy.attempts(method)):
            try:
                return self._send(method, request, deadline)
            except grpc.RpcError as error:
                last = attempt == self._policy.attempts(method) - 1
                delay = None if last else self._policy.pause(attempt, deadline, error)
                if delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def verify_token(
        self, token: str, *, audience: str = "", required_scopes: Iterable[str] = (), timeout: float | None = None
    ) -> pb.VerifyTokenResponse:
        return self._call("VerifyToken", _token(token, audience, required_scopes), timeout)

    def verify_session(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.VerifySessionResponse:
        request = pb.VerifySessionRequest(session_token=session_token, phone=phone, default_region=default_region)
        return self._call("VerifySession", request, timeout)

    def get_session_status(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.GetSessionStatusResponse:
        request = pb.GetSessionStatusRequest(session_token=session_token, phone=phone, default_region=default_region)
        return self._call("GetSessionStatus", request, timeout)

    def verify_approval(
        self, approval_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.VerifyApprovalResponse:
        request = pb.VerifyApprovalRequest(approval_token=approval_token, phone=phone, default_region=default_region)
        return self._call("VerifyApproval", request, timeout)

    def is_revoked(
        self, session_token: str, *, phone: str, default_region: str = "", timeout: float | None = None
    ) -> pb.IsRevokedResponse:
        request = pb.IsRevokedRequest(session_token=session_token, phone=phone, default_region=default_region)
        return self._call("IsRevoked", request, timeout)

    def validate_challenge(
        self, token: str, *, user_id: str = "", action: str = "", timeout: float | None = None
    ) -> pb.ValidateChallengeResponse:
        request = pb.ValidateChallengeRequest(token=token, user_id=user_id, action=action)
        return self._call("ValidateChallenge", request, timeout)

    def track(
        self,
        user_id: str,
        action: str,
        *,
        custom: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.TrackResponse:
        return self._call("Track", _track(user_id, action, custom, fields), timeout)

    def get_action(
        self, user_id: str, action: str, idempotency_key: str, *, timeout: float | None = None
    ) -> pb.GetActionResponse:
        request = pb.GetActionRequest(user_id=user_id, action=action, idempotency_key=idempotency_key)
        return self._call("GetAction", request, timeout)

    def get_user(self, user_id: str, *, timeout: float | None = None) -> pb.GetUserResponse:
        return self._call("GetUser", pb.GetUserRequest(user_id=user_id), timeout)

    def enroll_verified_authenticator(
        self, user_id: str, verification_method: str, *, timeout: float | None = None, **fields: Any
    ) -> pb.EnrollVerifiedAuthenticatorResponse:
        request = pb.EnrollVerifiedAuthenticatorRequest(
            user_id=user_id, verification_method=verification_method, **fields
        )
        return self._call("EnrollVerifiedAuthenticator", request, timeout)

    def check_upstream_health(self, *, timeout: float | None = None) -> pb.CheckUpstreamHealthResponse:
        return self._call("CheckUpstreamHealth", pb.CheckUpstreamHealthRequest(), timeout)

    def verify_stream(self, requests: Any, *, timeout: float | None = None) -> Any:
        """The raw VerifyStream call: an iterator of VerifyStreamRequest in, of VerifyStreamResponse out."""
        return self._stub.VerifyStream(requests, timeout=timeout)


def _token(token: str, audience: str, required_scopes: Iterable[str]) -> pb.VerifyTokenRequest:
    return pb.VerifyTokenRequest(token=token, audience=audience, required_scopes=list(required_scopes))


def _track(user_id: str, action: str, custom: Mapping[str, Any] | None, fields: dict[str, Any]) -> pb.TrackRequest:
    """fields: the other TrackRequest fields by name (redirect_url, idempotency_key, email, …)."""
    request = pb.TrackRequest(user_id=user_id, action=action, **fields)
    if custom:
        request.custom.CopyFrom(_struct(custom))
    return request


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(dict(values))
    return out
