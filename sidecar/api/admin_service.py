"""authsidecar.v1.AdminService: InAI's platform administration, registered only with identity.admin_api on.

Checks each call's fields (the ones its SDK method takes, core/accounts/admin.py OPERATIONS; any other
field set is refused, so a caller learns it sent something the call ignores), forwards the caller's
platform access token and hands back the platform's answer. The token is never logged or kept.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from authsidecar.v1 import admin_pb2 as pb
from authsidecar.v1 import admin_pb2_grpc
from authsidecar.v1 import factors_pb2 as fpb
from sidecar.api import fields as validation
from sidecar.core.accounts.admin import OPERATIONS, PlatformAdmin
from sidecar.core.shared.outcomes import InvalidArgument

from .account_service import MAX_PASSWORD_CHARS, MFA_CODE_MAX_CHARS, tokens_message
from .rpc import InFlight, rpc

ARGUMENTS = ("app_id", "environment_id", "name", "slug", "key_id", "email", "password", "first_name", "last_name")
MAX_PAGE = 1_000_000


def _struct(answer: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    try:
        json_format.ParseDict(answer, out)
    except (json_format.ParseError, ValueError, TypeError):
        out = struct_pb2.Struct()  # a value Struct cannot hold (e.g. a huge integer): the answer is empty
        out.update({"unreadable": "the platform's answer has a value google.protobuf.Struct cannot carry"})
    return out


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, admin: PlatformAdmin, max_token_bytes: int, max_field_chars: int, inflight: InFlight) -> None:
        self.admin = admin
        self.max_token_bytes = max_token_bytes
        self.max_field_chars = max_field_chars
        self.inflight = inflight

    def _args(self, operation: str, request: pb.AdminRequest) -> dict[str, str | int]:
        wanted = {a.rstrip("?"): not a.endswith("?") for a in OPERATIONS[operation]}
        args: dict[str, str | int] = {}
        for name in ARGUMENTS:
            value: str = getattr(request, name)
            if name not in wanted:
                if value:
                    raise InvalidArgument(name, f"is not an argument of {operation}")
                continue
            if name == "password":
                if wanted[name] and not value:
                    raise InvalidArgument(name, "is required")
                if len(value) > MAX_PASSWORD_CHARS:
                    raise InvalidArgument(name, f"is longer than {MAX_PASSWORD_CHARS} characters")
            elif wanted[name]:
                validation.required(name, value, self.max_field_chars)
            else:
                validation.optional(name, value, self.max_field_chars)
            if name == "email" and "@" not in value:
                raise InvalidArgument(name, "is not an email address")
            if value:
                args[name] = value
        for name in ("page", "limit"):
            number: int = getattr(request, name)
            if number and name not in wanted:
                raise InvalidArgument(name, f"is not an argument of {operation}")
            if not 0 <= number <= MAX_PAGE:
                raise InvalidArgument(name, f"must be between 0 and {MAX_PAGE}")
            if number:
                args[name] = number
        return args

    async def _ask(self, operation: str, request: pb.AdminRequest) -> pb.AdminAnswer:
        access_token = validation.token("access_token", request.access_token, self.max_token_bytes)
        answer = await self.admin.ask(operation, access_token, self._args(operation, request))
        return pb.AdminAnswer(answer=_struct(answer))

    @rpc("PlatformLogin")
    async def PlatformLogin(self, request: fpb.LoginRequest, context: Any) -> fpb.LoginResponse:
        email = validation.required("email", request.email, self.max_field_chars)
        if "@" not in email:
            raise InvalidArgument("email", "is not an email address")
        if not request.password or len(request.password) > MAX_PASSWORD_CHARS:
            raise InvalidArgument("password", f"is required, at most {MAX_PASSWORD_CHARS} characters")
        result = await self.admin.login(email, request.password)
        return fpb.LoginResponse(
            tokens=tokens_message(result.tokens) if result.tokens else None,
            mfa_required=result.mfa_required,
            mfa_token=result.mfa_token,
        )

    @rpc("PlatformMfaChallenge")
    async def PlatformMfaChallenge(self, request: fpb.CompleteMfaRequest, context: Any) -> fpb.CompleteMfaResponse:
        mfa_token = validation.token("mfa_token", request.mfa_token, self.max_token_bytes)
        code = validation.required("code", request.code, MFA_CODE_MAX_CHARS)
        return fpb.CompleteMfaResponse(tokens=tokens_message(await self.admin.mfa_challenge(mfa_token, code)))

    @rpc("PlatformRefresh")
    async def PlatformRefresh(self, request: fpb.RefreshRequest, context: Any) -> fpb.RefreshResponse:
        refresh_token = validation.token("refresh_token", request.refresh_token, self.max_token_bytes)
        return fpb.RefreshResponse(tokens=tokens_message(await self.admin.refresh(refresh_token)))

    @rpc("PlatformLogout")
    async def PlatformLogout(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("platformLogout", request)

    @rpc("PlatformGetMe")
    async def PlatformGetMe(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("platformGetMe", request)

    @rpc("ListApplications")
    async def ListApplications(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("listApplications", request)

    @rpc("CreateApplication")
    async def CreateApplication(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("createApplication", request)

    @rpc("GetApplication")
    async def GetApplication(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("getApplication", request)

    @rpc("UpdateApplication")
    async def UpdateApplication(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("updateApplication", request)

    @rpc("GetApplicationStats")
    async def GetApplicationStats(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("getApplicationStats", request)

    @rpc("ListAppUsers")
    async def ListAppUsers(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("listAppUsers", request)

    @rpc("CreateAppUser")
    async def CreateAppUser(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("createAppUser", request)

    @rpc("ListAppApiKeys")
    async def ListAppApiKeys(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("listAppApiKeys", request)

    @rpc("CreateAppApiKey")
    async def CreateAppApiKey(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("createAppApiKey", request)

    @rpc("RevokeAppApiKey")
    async def RevokeAppApiKey(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("revokeAppApiKey", request)

    @rpc("RotateAppKeys")
    async def RotateAppKeys(self, request: pb.AdminRequest, context: Any) -> pb.AdminAnswer:
        return await self._ask("rotateAppKeys", request)
