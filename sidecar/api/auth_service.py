"""authsidecar.v1.AuthService: checks request fields, asks the core, maps the answer. No decisions here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import grpc
from google.protobuf.json_format import MessageToDict

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from sidecar.api import convert
from sidecar.api import fields as validation
from sidecar.api.services import Services
from sidecar.core.challenges.records import EnrollInput, TrackInput
from sidecar.core.shared.outcomes import InvalidArgument
from sidecar.core.shared.phones import to_e164

from .rpc import InFlight, rpc
from .verify_stream import StreamGate, VerifyStreams

MAX_SCOPES = 64
MAX_URL_CHARS = 2048
MAX_CUSTOM_BYTES = 8192

T = TypeVar("T")


async def within_deadline(context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
    """Stop waiting on the upstream when the caller's deadline passes (the edge says DEADLINE_EXCEEDED)."""
    remaining = context.time_remaining()
    if remaining is None:
        return await call
    return await asyncio.wait_for(call, max(remaining, 0.001))


class AuthService(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, sidecar: Services, inflight: InFlight, gate: StreamGate | None = None) -> None:
        self.sidecar = sidecar
        self.inflight = inflight
        self.limits = sidecar.settings.limits
        answerers: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "verify_token": self.answer_verify_token,
            "verify_session": self.answer_verify_session,
            "is_revoked": self.answer_is_revoked,
            "get_session_status": self.answer_get_session_status,
        }
        self.streams = VerifyStreams(
            answerers, inflight, gate or StreamGate(self.limits.verify_streams_max), self.limits
        )

    def _field(self, name: str, value: str) -> str:
        return validation.required(name, value, self.limits.max_field_chars)

    def _phone(self, request: Any) -> str:  # any request with phone and default_region
        region = validation.optional("default_region", request.default_region, 2)
        return to_e164(request.phone, region or self.sidecar.settings.default_region)

    # The read-only answers, shared by the unary RPCs and VerifyStream's items (request → response).
    async def answer_verify_token(self, request: pb.VerifyTokenRequest) -> pb.VerifyTokenResponse:
        response = self._verify_token(request)
        return response if isinstance(response, pb.VerifyTokenResponse) else await response

    def _verify_token(
        self, request: pb.VerifyTokenRequest, context: grpc.aio.ServicerContext | None = None
    ) -> pb.VerifyTokenResponse | Coroutine[Any, Any, pb.VerifyTokenResponse]:
        """VerifyToken's answer: the message itself when the verified-token cache answers (no
        coroutine on a hit), else a coroutine that verifies. (The RPC is this, under `rpc`.)"""
        limits, tokens = self.limits, self.sidecar.tokens
        token = validation.ascii_token("token", request.token, limits.max_token_bytes)
        audience, scopes = request.audience, request.required_scopes
        if audience or scopes:
            validation.printable("token", token)
            audience = validation.optional("audience", audience, limits.max_field_chars)
            wanted = validation.string_list("required_scopes", scopes, MAX_SCOPES, limits.max_field_chars)
            answer = tokens.verify_cached(token, audience or None, wanted)
        else:  # the usual request: the token alone
            wanted = []
            answer = tokens.verify_cached(token, None, wanted)
            if answer is None:
                # Only now: a cached token is, by its SHA-256, one jws.parse accepted (base64url and
                # dots), so printable; a token that is not cached is scanned before it is verified.
                validation.printable("token", token)
        if answer is None:
            return self._verify_token_missed(token, audience or None, wanted)
        return convert.token_answer(answer)

    async def _verify_token_missed(self, token: str, audience: str | None, scopes: list[str]) -> pb.VerifyTokenResponse:
        return convert.token_answer(await self.sidecar.tokens.verify_missed(token, audience, scopes))

    async def answer_verify_session(self, request: pb.VerifySessionRequest) -> pb.VerifySessionResponse:
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        answer = await self.sidecar.sessions.verify_session(token, phone)
        v = answer.verdict
        return pb.VerifySessionResponse(
            valid=v.valid,
            status=convert.session_status(answer.status),
            reason=convert.reason(v.reason),
            detail=v.detail,
            source=convert.source(v.source),
        )

    async def answer_get_session_status(self, request: pb.GetSessionStatusRequest) -> pb.GetSessionStatusResponse:
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.get_status(token, phone)
        return pb.GetSessionStatusResponse(
            status=convert.session_status(a.status),
            phone=a.phone,
            expires_at=convert.timestamp(a.expires_at),
            source=convert.source(a.source),
            reason=convert.reason(a.reason),
            detail=a.detail,
        )

    async def answer_is_revoked(self, request: pb.IsRevokedRequest) -> pb.IsRevokedResponse:
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.is_revoked(token, phone)
        return pb.IsRevokedResponse(
            revoked=a.revoked, reason=convert.reason(a.reason), detail=a.detail, source=convert.source(a.source)
        )

    # The handler itself, not a method calling it: a hit is answered with no further call layer.
    VerifyToken = rpc("VerifyToken")(_verify_token)

    @rpc("VerifySession")
    async def VerifySession(
        self, request: pb.VerifySessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifySessionResponse:
        return await self.answer_verify_session(request)

    @rpc("GetSessionStatus")
    async def GetSessionStatus(
        self, request: pb.GetSessionStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionStatusResponse:
        return await self.answer_get_session_status(request)

    @rpc("IsRevoked")
    async def IsRevoked(self, request: pb.IsRevokedRequest, context: grpc.aio.ServicerContext) -> pb.IsRevokedResponse:
        return await self.answer_is_revoked(request)

    async def VerifyStream(
        self, request_iterator: AsyncIterator[pb.VerifyStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Bidirectional: counted per item under the item's method (see verify_stream.py)."""
        async for response in self.streams.serve(request_iterator, context):
            yield response

    @rpc("VerifyApproval")
    async def VerifyApproval(
        self, request: pb.VerifyApprovalRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyApprovalResponse:
        token = self._field("approval_token", request.approval_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.verify_approval(token, phone)
        v = a.verdict
        return pb.VerifyApprovalResponse(
            valid=v.valid,
            action=a.action,
            session_token=a.session_token,
            reason=convert.reason(v.reason),
            detail=v.detail,
            source=convert.source(v.source),
            expires_at=convert.timestamp(a.expires_at),
        )

    @rpc("ValidateChallenge")
    async def ValidateChallenge(
        self, request: pb.ValidateChallengeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateChallengeResponse:
        token = validation.token("token", request.token, self.limits.max_token_bytes)
        user_id = validation.optional("user_id", request.user_id, self.limits.max_field_chars)
        action = validation.optional("action", request.action, self.limits.max_field_chars)
        a = await within_deadline(context, self.sidecar.challenges.validate(token, user_id or None, action or None))
        v = a.verdict
        return pb.ValidateChallengeResponse(
            is_valid=v.valid,
            state=convert.action_state(a.state),
            user_id=a.user_id,
            action=a.action,
            reason=convert.reason(v.reason),
            detail=v.detail,
            idempotency_key=a.idempotency_key,
            verification_method=a.verification_method,
            source=convert.source(v.source),
        )

    @rpc("Track")
    async def Track(self, request: pb.TrackRequest, context: grpc.aio.ServicerContext) -> pb.TrackResponse:
        r = await within_deadline(context, self.sidecar.challenges.track(self._track_input(request)))
        return pb.TrackResponse(
            state=convert.action_state(r.state),
            idempotency_key=r.idempotency_key,
            url=r.url,
            token=r.token,
            is_enrolled=r.is_enrolled,
            enrolled_verification_methods=list(r.enrolled_verification_methods),
            allowed_verification_methods=list(r.allowed_verification_methods),
            default_verification_method=r.default_verification_method,
            rule_ids=list(r.rule_ids),
        )

    def _track_input(self, request: pb.TrackRequest) -> TrackInput:
        n = self.limits.max_field_chars
        opt = validation.optional
        user_id, action = self._field("user_id", request.user_id), self._field("action", request.action)
        if len(request.custom.SerializeToString()) > MAX_CUSTOM_BYTES:
            raise InvalidArgument("custom", f"is larger than {MAX_CUSTOM_BYTES} bytes")
        custom = MessageToDict(request.custom) if request.HasField("custom") else {}
        phone = request.phone_number and to_e164(
            request.phone_number, self.sidecar.settings.default_region, field="phone_number"
        )
        return TrackInput(
            user_id=user_id,
            action=action,
            redirect_url=validation.url("redirect_url", request.redirect_url, MAX_URL_CHARS),
            idempotency_key=opt("idempotency_key", request.idempotency_key, n),
            email=opt("email", request.email, n),
            phone_number=phone,
            ip_address=opt("ip_address", request.ip_address, n),
            user_agent=opt("user_agent", request.user_agent, n),
            device_id=opt("device_id", request.device_id, n),
            username=opt("username", request.username, n),
            custom=custom,
            redirect_to_settings=request.redirect_to_settings,
        )

    @rpc("GetAction")
    async def GetAction(self, request: pb.GetActionRequest, context: grpc.aio.ServicerContext) -> pb.GetActionResponse:
        user_id, action = self._field("user_id", request.user_id), self._field("action", request.action)
        key = self._field("idempotency_key", request.idempotency_key)
        a = await within_deadline(context, self.sidecar.challenges.get_action(user_id, action, key))
        return pb.GetActionResponse(
            state=convert.action_state(a.state),
            state_updated_at=convert.timestamp(a.state_updated_at),
            created_at=convert.timestamp(a.created_at),
            verification_method=a.verification_method,
            rule_ids=list(a.rule_ids),
        )

    @rpc("GetUser")
    async def GetUser(self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext) -> pb.GetUserResponse:
        user_id = self._field("user_id", request.user_id)
        u = await within_deadline(context, self.sidecar.challenges.get_user(user_id))
        return pb.GetUserResponse(
            is_enrolled=u.is_enrolled,
            email=u.email,
            phone_number=u.phone_number,
            username=u.username,
            display_name=u.display_name,
            enrolled_verification_methods=list(u.enrolled_verification_methods),
            allowed_verification_methods=list(u.allowed_verification_methods),
            default_verification_method=u.default_verification_method,
        )

    @rpc("EnrollVerifiedAuthenticator")
    async def EnrollVerifiedAuthenticator(
        self, request: pb.EnrollVerifiedAuthenticatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnrollVerifiedAuthenticatorResponse:
        n = self.limits.max_field_chars
        phone = request.phone_number and to_e164(
            request.phone_number, self.sidecar.settings.default_region, field="phone_number"
        )
        enroll = EnrollInput(
            user_id=self._field("user_id", request.user_id),
            verification_method=self._field("verification_method", request.verification_method),
            phone_number=phone,
            email=validation.optional("email", request.email, n),
            is_default=request.is_default,
        )
        e = await within_deadline(context, self.sidecar.challenges.enroll_verified_authenticator(enroll))
        return pb.EnrollVerifiedAuthenticatorResponse(
            user_authenticator_id=e.user_authenticator_id,
            verification_method=e.verification_method,
            recovery_codes=list(e.recovery_codes),
        )

    @rpc("CheckUpstreamHealth")
    async def CheckUpstreamHealth(
        self, request: pb.CheckUpstreamHealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckUpstreamHealthResponse:
        upstreams = await self.sidecar.upstream_health()
        return pb.CheckUpstreamHealthResponse(
            healthy=all(u.healthy for u in upstreams),
            upstreams=[pb.UpstreamHealth(name=u.name, healthy=u.healthy, detail=u.detail) for u in upstreams],
        )
