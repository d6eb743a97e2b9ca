"""authsidecar.v1.AccountService: checks request fields, asks the core, maps the answer. No decisions here.

Passwords, codes and tokens pass through; none of them is logged or put into an error message.
"""

from __future__ import annotations

import grpc

from authsidecar.v1 import factors_pb2 as pb
from authsidecar.v1 import factors_pb2_grpc
from sidecar.api import convert
from sidecar.api import fields as validation
from sidecar.api.services import Services
from sidecar.core.accounts.flows import Tokens
from sidecar.core.accounts.records import Registration
from sidecar.core.shared.outcomes import InvalidArgument

from .rpc import InFlight, rpc

MAX_PASSWORD_CHARS = 1024
MFA_CODE_MAX_CHARS = 32


def tokens_message(t: Tokens) -> pb.AccountTokens:
    return pb.AccountTokens(
        access_token=t.access_token,
        refresh_token=t.refresh_token,
        expires_in=convert.seconds32(t.expires_in),
        session_id=t.session_id,
    )


class AccountService(factors_pb2_grpc.AccountServiceServicer):
    def __init__(self, sidecar: Services, inflight: InFlight) -> None:
        self.accounts = sidecar.accounts
        self.inflight = inflight
        self.limits = sidecar.settings.limits

    def _token(self, name: str, value: str) -> str:
        return validation.token(name, value, self.limits.max_token_bytes)

    def _email(self, name: str, value: str) -> str:
        email = validation.required(name, value, self.limits.max_field_chars)
        if "@" not in email:
            raise InvalidArgument(name, "is not an email address")
        return email

    @staticmethod
    def _password(name: str, value: str) -> str:
        if not value:
            raise InvalidArgument(name, "is required")
        if len(value) > MAX_PASSWORD_CHARS:
            raise InvalidArgument(name, f"is longer than {MAX_PASSWORD_CHARS} characters")
        return value

    @rpc("Login")
    async def Login(self, request: pb.LoginRequest, context: grpc.aio.ServicerContext) -> pb.LoginResponse:
        email = self._email("email", request.email)
        result = await self.accounts.login(email, self._password("password", request.password))
        return pb.LoginResponse(
            tokens=tokens_message(result.tokens) if result.tokens else None,
            mfa_required=result.mfa_required,
            mfa_token=result.mfa_token,
        )

    @rpc("CompleteMfa")
    async def CompleteMfa(
        self, request: pb.CompleteMfaRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteMfaResponse:
        mfa_token = self._token("mfa_token", request.mfa_token)
        code = validation.required("code", request.code, MFA_CODE_MAX_CHARS)
        return pb.CompleteMfaResponse(tokens=tokens_message(await self.accounts.complete_mfa(mfa_token, code)))

    @rpc("Refresh")
    async def Refresh(self, request: pb.RefreshRequest, context: grpc.aio.ServicerContext) -> pb.RefreshResponse:
        tokens = await self.accounts.refresh(self._token("refresh_token", request.refresh_token))
        return pb.RefreshResponse(tokens=tokens_message(tokens))

    @rpc("Logout")
    async def Logout(self, request: pb.LogoutRequest, context: grpc.aio.ServicerContext) -> pb.LogoutResponse:
        session_id = await self.accounts.logout(self._token("refresh_token", request.refresh_token))
        return pb.LogoutResponse(session_id=session_id)

    @rpc("GetMe")
    async def GetMe(self, request: pb.GetMeRequest, context: grpc.aio.ServicerContext) -> pb.GetMeResponse:
        me = await self.accounts.me(self._token("access_token", request.access_token))
        return pb.GetMeResponse(
            user_id=me.user_id,
            email=me.email,
            first_name=me.first_name,
            last_name=me.last_name,
            mfa_enabled=me.mfa_enabled,
        )

    @rpc("ListSessions")
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        sessions = await self.accounts.list_sessions(self._token("access_token", request.access_token))
        return pb.ListSessionsResponse(
            sessions=[
                pb.AccountSession(
                    session_id=s.session_id,
                    device=s.device,
                    ip=s.ip,
                    created_at=s.created_at,
                    last_seen_at=s.last_seen_at,
                    current=s.current,
                )
                for s in sessions
            ]
        )

    @rpc("LogoutSession")
    async def LogoutSession(
        self, request: pb.LogoutSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.LogoutSessionResponse:
        access_token = self._token("access_token", request.access_token)
        session_id = validation.required("session_id", request.session_id, self.limits.max_field_chars)
        await self.accounts.logout_session(access_token, session_id)
        return pb.LogoutSessionResponse()

    # -- the app-user flows: each RPC is one flavour's (see factors.proto); the other answers UNIMPLEMENTED --

    @rpc("Register")
    async def Register(self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext) -> pb.RegisterResponse:
        registration = Registration(
            self._email("email", request.email),
            self._password("password", request.password),
            validation.optional("first_name", request.first_name, self.limits.max_field_chars),
            validation.optional("last_name", request.last_name, self.limits.max_field_chars),
        )
        registered = await self.accounts.register(registration)
        return pb.RegisterResponse(tokens=tokens_message(registered.tokens), user_id=registered.user_id)

    @rpc("SetActiveOrganization")
    async def SetActiveOrganization(
        self, request: pb.SetActiveOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetActiveOrganizationResponse:
        access_token = self._token("access_token", request.access_token)
        organization = validation.optional("organization_id", request.organization_id, self.limits.max_field_chars)
        tokens = await self.accounts.set_active_organization(access_token, organization)
        return pb.SetActiveOrganizationResponse(tokens=tokens_message(tokens))

    @rpc("ForgotPassword")
    async def ForgotPassword(
        self, request: pb.ForgotPasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgotPasswordResponse:
        message = await self.accounts.forgot_password(self._email("email", request.email))
        return pb.ForgotPasswordResponse(message=message)

    @rpc("ResetPassword")
    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResetPasswordResponse:
        token = self._token("token", request.token)
        password = self._password("new_password", request.new_password)
        email = self._email("email", request.email) if request.email else ""
        message, revoked = await self.accounts.reset_password(token, password, email)
        return pb.ResetPasswordResponse(message=message, revoked_tokens=revoked)

    @rpc("VerifyEmail")
    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyEmailResponse:
        return pb.VerifyEmailResponse(message=await self.accounts.verify_email(self._token("token", request.token)))

    @rpc("ToggleTwoFactor")
    async def ToggleTwoFactor(
        self, request: pb.ToggleTwoFactorRequest, context: grpc.aio.ServicerContext
    ) -> pb.ToggleTwoFactorResponse:
        toggled = await self.accounts.toggle_two_factor(
            self._token("access_token", request.access_token), request.enable
        )
        return pb.ToggleTwoFactorResponse(
            confirmation_required=toggled.confirmation_required, code=toggled.code, message=toggled.message
        )

    @rpc("ConfirmEnableTwoFactor")
    async def ConfirmEnableTwoFactor(
        self, request: pb.ConfirmEnableTwoFactorRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmEnableTwoFactorResponse:
        access_token = self._token("access_token", request.access_token)
        email = self._email("email", request.email)
        code = validation.required("code", request.code, MFA_CODE_MAX_CHARS)
        message = await self.accounts.confirm_enable_two_factor(access_token, email, code)
        return pb.ConfirmEnableTwoFactorResponse(message=message)

    @rpc("RequestEmailChange")
    async def RequestEmailChange(
        self, request: pb.RequestEmailChangeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestEmailChangeResponse:
        access_token = self._token("access_token", request.access_token)
        token = await self.accounts.request_email_change(access_token, self._email("new_email", request.new_email))
        return pb.RequestEmailChangeResponse(email_change_token=token)

    @rpc("ConfirmEmailChange")
    async def ConfirmEmailChange(
        self, request: pb.ConfirmEmailChangeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmEmailChangeResponse:
        access_token = self._token("access_token", request.access_token)
        email = self._email("email", request.email)
        message, revoked = await self.accounts.confirm_email_change(
            access_token, email, self._token("token", request.token)
        )
        return pb.ConfirmEmailChangeResponse(message=message, revoked_tokens=revoked)
