"""authsidecar.v1.AuthService: checks request fields, asks the core, maps the answer. No decisions here."""

from __future__ import annotations

import grpc

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc

from ..app import Sidecar
from ..core.phones import to_e164
from . import convert, validation
from .rpc import InFlight, rpc

MAX_SCOPES = 64


class AuthService(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, sidecar: Sidecar, inflight: InFlight) -> None:
        self.sidecar = sidecar
        self.inflight = inflight
        self.limits = sidecar.settings.limits

    def _field(self, name: str, value: str) -> str:
        return validation.required(name, value, self.limits.max_field_chars)

    def _phone(self, request) -> str:
        region = validation.optional("default_region", request.default_region, 2)
        return to_e164(request.phone, region or self.sidecar.settings.default_region)

    @rpc("VerifyToken")
    async def VerifyToken(self, request: pb.VerifyTokenRequest, context: grpc.aio.ServicerContext):
        token = validation.token("token", request.token, self.limits.max_token_bytes)
        audience = validation.optional("audience", request.audience, self.limits.max_field_chars)
        scopes = validation.string_list("required_scopes", request.required_scopes, MAX_SCOPES,
                                        self.limits.max_field_chars)
        answer = await self.sidecar.tokens.verify(token, audience or None, scopes)
        v = answer.verdict
        return pb.VerifyTokenResponse(
            valid=v.valid, reason=convert.reason(v.reason), detail=v.detail, source=convert.source(v.source),
            auth=convert.auth_info(answer.auth) if answer.auth and v.valid else None,
        )

    @rpc("VerifySession")
    async def VerifySession(self, request: pb.VerifySessionRequest, context: grpc.aio.ServicerContext):
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        answer = await self.sidecar.sessions.verify_session(token, phone)
        v = answer.verdict
        return pb.VerifySessionResponse(
            valid=v.valid, status=convert.session_status(answer.status), reason=convert.reason(v.reason),
            detail=v.detail, source=convert.source(v.source),
        )

    @rpc("GetSessionStatus")
    async def GetSessionStatus(self, request: pb.GetSessionStatusRequest, context: grpc.aio.ServicerContext):
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.get_status(token, phone)
        return pb.GetSessionStatusResponse(
            status=convert.session_status(a.status), phone=a.phone, expires_at=convert.timestamp(a.expires_at),
            source=convert.source(a.source), reason=convert.reason(a.reason), detail=a.detail,
        )

    @rpc("VerifyApproval")
    async def VerifyApproval(self, request: pb.VerifyApprovalRequest, context: grpc.aio.ServicerContext):
        token = self._field("approval_token", request.approval_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.verify_approval(token, phone)
        v = a.verdict
        return pb.VerifyApprovalResponse(
            valid=v.valid, action=a.action, session_token=a.session_token, reason=convert.reason(v.reason),
            detail=v.detail, source=convert.source(v.source), expires_at=convert.timestamp(a.expires_at),
        )

    @rpc("IsRevoked")
    async def IsRevoked(self, request: pb.IsRevokedRequest, context: grpc.aio.ServicerContext):
        token = self._field("session_token", request.session_token)
        phone = self._phone(request)
        a = await self.sidecar.sessions.is_revoked(token, phone)
        return pb.IsRevokedResponse(revoked=a.revoked, reason=convert.reason(a.reason), detail=a.detail,
                                    source=convert.source(a.source))

    @rpc("ValidateChallenge")
    async def ValidateChallenge(self, request: pb.ValidateChallengeRequest, context: grpc.aio.ServicerContext):
        token = validation.token("token", request.token, self.limits.max_token_bytes)
        user_id = validation.optional("user_id", request.user_id, self.limits.max_field_chars)
        action = validation.optional("action", request.action, self.limits.max_field_chars)
        a = await self.sidecar.challenges.validate(token, user_id or None, action or None)
        v = a.verdict
        return pb.ValidateChallengeResponse(
            is_valid=v.valid, state=convert.action_state(a.state), user_id=a.user_id, action=a.action,
            reason=convert.reason(v.reason), detail=v.detail, idempotency_key=a.idempotency_key,
            verification_method=a.verification_method, source=convert.source(v.source),
        )

    @rpc("CheckUpstreamHealth")
    async def CheckUpstreamHealth(self, request: pb.CheckUpstreamHealthRequest, context: grpc.aio.ServicerContext):
        upstreams = await self.sidecar.upstream_health()
        return pb.CheckUpstreamHealthResponse(
            healthy=all(u.healthy for u in upstreams),
            upstreams=[pb.UpstreamHealth(name=u.name, healthy=u.healthy, detail=u.detail) for u in upstreams],
        )
