"""authsidecar.v1.SecondFactorService: checks request fields, asks the core, maps the answer. No decisions here."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TypeVar, cast

import grpc

from authsidecar.v1 import factors_pb2 as pb
from authsidecar.v1 import factors_pb2_grpc
from sidecar.api import convert
from sidecar.api import fields as validation
from sidecar.api.services import Services
from sidecar.core.factors.callbacks import CallbackLimits
from sidecar.core.factors.records import ACTIVITY_TYPES, Activity, ApprovalDraft, ApprovalStatus, TokenRequest
from sidecar.core.factors.second_factors import parse_phone
from sidecar.core.shared.outcomes import InvalidArgument, Verdict
from sidecar.observability import metrics

from .rpc import InFlight, rpc, rpc_stream

MAX_DETAILS = 32
MAX_ACTIVITY_KEY_CHARS, MAX_ACTIVITY_VALUE_CHARS = 64, 1024
INT32_MAX = 2**31 - 1
CALLBACK_LIMITS = CallbackLimits()  # body size and depth, params entries, key and value sizes
MAX_TTL_SECONDS = 30 * 86400
MAX_FRIENDLY_NAME_CHARS = 64
MAX_ACTION_CHARS = 255  # authy-client asserts action and action_message at 1–255 characters
VIA = {pb.VERIFICATION_VIA_UNSPECIFIED: "sms", pb.VERIFICATION_VIA_SMS: "sms", pb.VERIFICATION_VIA_CALL: "call"}

M = TypeVar("M")  # a response message class


def approval_status(s: ApprovalStatus) -> pb.ApprovalStatus:
    return cast("pb.ApprovalStatus", pb.ApprovalStatus.Value(f"APPROVAL_STATUS_{s.value}"))  # Value() is typed int


class SecondFactorService(factors_pb2_grpc.SecondFactorServiceServicer):
    def __init__(self, sidecar: Services, inflight: InFlight) -> None:
        self.sidecar = sidecar
        self.factors = sidecar.second_factors
        self.inflight = inflight
        self.limits = sidecar.settings.limits

    def _field(self, name: str, value: str) -> str:
        return validation.required(name, value, self.limits.max_field_chars)

    def _details(self, name: str, values: Mapping[str, str]) -> dict[str, str]:
        if len(values) > MAX_DETAILS:
            raise InvalidArgument(name, f"has more than {MAX_DETAILS} entries")
        return {
            self._field(f"{name} key", k): validation.optional(f"{name}[{k}]", v, self.limits.max_field_chars)
            for k, v in values.items()
        }

    @staticmethod
    def _verdict(message_cls: Callable[..., M], v: Verdict) -> M:
        return message_cls(valid=v.valid, reason=convert.reason(v.reason), detail=v.detail)

    @rpc("VerifyTotp")
    async def VerifyTotp(
        self, request: pb.VerifyTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyTotpResponse:
        user_id = self._field("user_id", request.user_id)
        factor_id = validation.optional("factor_id", request.factor_id, self.limits.max_field_chars)
        v = await self.factors.verify_totp(user_id, request.code, request.force, factor_id)
        return self._verdict(pb.VerifyTotpResponse, v)

    @rpc("CreateApprovalRequest")
    async def CreateApprovalRequest(
        self, request: pb.CreateApprovalRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateApprovalRequestResponse:
        if not 0 <= request.ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidArgument("ttl_seconds", f"must be between 0 and {MAX_TTL_SECONDS}")
        draft = ApprovalDraft(
            self._field("user_id", request.user_id),
            self._field("message", request.message),
            self._details("visible_details", request.visible_details),
            self._details("hidden_details", request.hidden_details),
            request.ttl_seconds,
            validation.optional("factor_id", request.factor_id, self.limits.max_field_chars),
        )
        return pb.CreateApprovalRequestResponse(id=await self.factors.create_approval(draft))

    @rpc("GetApprovalRequest")
    async def GetApprovalRequest(
        self, request: pb.GetApprovalRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetApprovalRequestResponse:
        status = await self.factors.approval_status(self._field("id", request.id))
        return pb.GetApprovalRequestResponse(status=approval_status(status))

    @rpc_stream("WatchApprovalRequest")
    async def WatchApprovalRequest(
        self, request: pb.WatchApprovalRequestRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchApprovalRequestResponse]:
        # The caller's deadline cancels this generator (grpc cancels the task), which ends the polling.
        approval_id = self._field("id", request.id)
        metrics.APPROVAL_WATCHES.inc()
        try:
            async for status in self.factors.watch_approval(approval_id):
                yield pb.WatchApprovalRequestResponse(status=approval_status(status))
        finally:
            metrics.APPROVAL_WATCHES.dec()

    @rpc("VerifyCallbackSignature")
    async def VerifyCallbackSignature(
        self, request: pb.VerifyCallbackSignatureRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCallbackSignatureResponse:
        method = self._field("method", request.method)
        url = self._field("url", request.url)
        nonce = validation.optional("nonce", request.nonce, self.limits.max_field_chars)  # Authy's; required there
        signature = self._field("signature", request.signature)
        # Bounded before it is walked: a huge map is refused in O(1), never parsed key by key.
        if len(request.params) > CALLBACK_LIMITS.max_entries:
            raise InvalidArgument("params", f"has more than {CALLBACK_LIMITS.max_entries} entries")
        v = self.factors.verify_callback_request(
            nonce=nonce,
            method=method,
            url=url,
            pairs=list(request.params.items()),
            body=request.body,
            signature=signature,
            limits=CALLBACK_LIMITS,
        )
        return self._verdict(pb.VerifyCallbackSignatureResponse, v)

    @rpc("EnrollTotp")
    async def EnrollTotp(
        self, request: pb.EnrollTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnrollTotpResponse:
        user_id = self._field("user_id", request.user_id)
        friendly_name = validation.required("friendly_name", request.friendly_name, MAX_FRIENDLY_NAME_CHARS)
        enrolled = await self.factors.enrol_totp(user_id, friendly_name)
        return pb.EnrollTotpResponse(
            factor_id=enrolled.factor_id, binding_uri=enrolled.binding_uri, secret=enrolled.secret
        )

    @rpc("ConfirmTotp")
    async def ConfirmTotp(
        self, request: pb.ConfirmTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmTotpResponse:
        user_id = self._field("user_id", request.user_id)
        factor_id = self._field("factor_id", request.factor_id)
        v = await self.factors.confirm_totp(user_id, factor_id, request.code)
        return self._verdict(pb.ConfirmTotpResponse, v)

    @rpc("StartPhoneVerification")
    async def StartPhoneVerification(
        self, request: pb.StartPhoneVerificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartPhoneVerificationResponse:
        phone = parse_phone(request.country, request.phone)
        if request.via not in VIA:
            raise InvalidArgument("via", "must be SMS or CALL")
        locale = validation.optional("locale", request.locale, 16)
        started = await self.factors.start_phone_verification(phone, VIA[request.via], locale, request.code_length)
        return pb.StartPhoneVerificationResponse(
            message=started.message,
            seconds_to_expire=convert.seconds32(started.seconds_to_expire),
            is_cellphone=started.is_cellphone,
        )

    @rpc("CheckPhoneVerification")
    async def CheckPhoneVerification(
        self, request: pb.CheckPhoneVerificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckPhoneVerificationResponse:
        phone = parse_phone(request.country, request.phone)
        v = await self.factors.check_phone(phone, request.code)
        return self._verdict(pb.CheckPhoneVerificationResponse, v)

    @rpc("RegisterUser")
    async def RegisterUser(
        self, request: pb.RegisterUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterUserResponse:
        email = self._field("email", request.email)
        if "@" not in email:
            raise InvalidArgument("email", "is not an email address")
        phone = parse_phone(request.country, request.phone)
        return pb.RegisterUserResponse(user_id=await self.factors.register_user(email, phone))

    @rpc("DeleteUser")
    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteUserResponse:
        await self.factors.delete_user(self._field("user_id", request.user_id))
        return pb.DeleteUserResponse()

    @rpc("GetUserStatus")
    async def GetUserStatus(
        self, request: pb.GetUserStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUserStatusResponse:
        s = await self.factors.user_status(self._field("user_id", request.user_id))
        return pb.GetUserStatusResponse(
            user_id=s.user_id,
            registered=s.registered,
            confirmed=s.confirmed,
            country_code=s.country_code,
            phone_number=s.phone_number,
            devices=list(s.devices),
            has_hard_token=s.has_hard_token,
        )

    def _token_request(self, request: pb.RequestSmsRequest | pb.RequestCallRequest, via: str) -> TokenRequest:
        return TokenRequest(
            self._field("user_id", request.user_id),
            via,
            request.force,
            validation.optional("action", request.action, MAX_ACTION_CHARS),
            validation.optional("action_message", request.action_message, MAX_ACTION_CHARS),
            # Twilio Verify sends to a phone; Authy to its user (the phone is then not read).
            parse_phone(request.country, request.phone) if request.country or request.phone else None,
        )

    @rpc("RequestSms")
    async def RequestSms(
        self, request: pb.RequestSmsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestSmsResponse:
        sent = await self.factors.request_token(self._token_request(request, "sms"))
        return pb.RequestSmsResponse(
            message=sent.message, cellphone=sent.cellphone, device=sent.device, ignored=sent.ignored
        )

    @rpc("RequestCall")
    async def RequestCall(
        self, request: pb.RequestCallRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestCallResponse:
        sent = await self.factors.request_token(self._token_request(request, "call"))
        return pb.RequestCallResponse(
            message=sent.message, cellphone=sent.cellphone, device=sent.device, ignored=sent.ignored
        )

    # -- registerActivity, getApplicationStatistics, getPhoneInformation (authy-client) ------------------

    def _ip(self, value: str) -> str:
        """An optional IP address (the SDK's Assert.ip): v4 or v6, nothing else."""
        if not value:
            return ""
        validation.optional("ip", value, 64)
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidArgument("ip", "is not an IP address") from None

    @rpc("RegisterActivity")
    async def RegisterActivity(
        self, request: pb.RegisterActivityRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterActivityResponse:
        user_id = self._field("user_id", request.user_id)
        if not user_id.isascii() or not user_id.isdigit():
            raise InvalidArgument("user_id", "must be the platform's numeric user id")
        if request.type not in ACTIVITY_TYPES:
            raise InvalidArgument("type", f"must be one of {', '.join(sorted(ACTIVITY_TYPES))}")
        if len(request.data) > MAX_DETAILS:
            raise InvalidArgument("data", f"has more than {MAX_DETAILS} entries")
        data = {
            validation.required("data key", k, MAX_ACTIVITY_KEY_CHARS): validation.optional(
                f"data[{k}]", v, MAX_ACTIVITY_VALUE_CHARS
            )
            for k, v in request.data.items()
        }
        message = await self.factors.register_activity(Activity(user_id, request.type, data, self._ip(request.ip)))
        return pb.RegisterActivityResponse(message=message)

    @rpc("GetApplicationStatistics")
    async def GetApplicationStatistics(
        self, request: pb.GetApplicationStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetApplicationStatisticsResponse:
        stats = await self.factors.application_statistics()
        return pb.GetApplicationStatisticsResponse(
            app_id=stats.app_id,
            total_users=stats.total_users,
            months=[
                pb.MonthlyStatistics(
                    year=min(m.year, INT32_MAX),
                    month=m.month,
                    api_calls_count=m.api_calls_count,
                    auths_count=m.auths_count,
                    calls_count=m.calls_count,
                    sms_count=m.sms_count,
                    users_count=m.users_count,
                )
                for m in stats.months
            ],
        )

    @rpc("GetPhoneInformation")
    async def GetPhoneInformation(
        self, request: pb.GetPhoneInformationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPhoneInformationResponse:
        phone = parse_phone(request.country, request.phone)
        info = await self.factors.phone_information(phone, self._ip(request.ip))
        return pb.GetPhoneInformationResponse(
            type=info.type, provider=info.provider, ported=info.ported, message=info.message
        )
