from authsidecar.v1 import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApprovalStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_STATUS_UNSPECIFIED: _ClassVar[ApprovalStatus]
    APPROVAL_STATUS_PENDING: _ClassVar[ApprovalStatus]
    APPROVAL_STATUS_APPROVED: _ClassVar[ApprovalStatus]
    APPROVAL_STATUS_DENIED: _ClassVar[ApprovalStatus]
    APPROVAL_STATUS_EXPIRED: _ClassVar[ApprovalStatus]

class VerificationVia(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_VIA_UNSPECIFIED: _ClassVar[VerificationVia]
    VERIFICATION_VIA_SMS: _ClassVar[VerificationVia]
    VERIFICATION_VIA_CALL: _ClassVar[VerificationVia]
APPROVAL_STATUS_UNSPECIFIED: ApprovalStatus
APPROVAL_STATUS_PENDING: ApprovalStatus
APPROVAL_STATUS_APPROVED: ApprovalStatus
APPROVAL_STATUS_DENIED: ApprovalStatus
APPROVAL_STATUS_EXPIRED: ApprovalStatus
VERIFICATION_VIA_UNSPECIFIED: VerificationVia
VERIFICATION_VIA_SMS: VerificationVia
VERIFICATION_VIA_CALL: VerificationVia

class VerifyTotpRequest(_message.Message):
    __slots__ = ("user_id", "code", "force", "factor_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    FACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    code: str
    force: bool
    factor_id: str
    def __init__(self, user_id: _Optional[str] = ..., code: _Optional[str] = ..., force: _Optional[bool] = ..., factor_id: _Optional[str] = ...) -> None: ...

class VerifyTotpResponse(_message.Message):
    __slots__ = ("valid", "reason", "detail")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: _auth_pb2.Reason
    detail: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[_Union[_auth_pb2.Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class CreateApprovalRequestRequest(_message.Message):
    __slots__ = ("user_id", "message", "visible_details", "hidden_details", "ttl_seconds", "factor_id")
    class VisibleDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class HiddenDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_DETAILS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_DETAILS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    message: str
    visible_details: _containers.ScalarMap[str, str]
    hidden_details: _containers.ScalarMap[str, str]
    ttl_seconds: int
    factor_id: str
    def __init__(self, user_id: _Optional[str] = ..., message: _Optional[str] = ..., visible_details: _Optional[_Mapping[str, str]] = ..., hidden_details: _Optional[_Mapping[str, str]] = ..., ttl_seconds: _Optional[int] = ..., factor_id: _Optional[str] = ...) -> None: ...

class CreateApprovalRequestResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetApprovalRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetApprovalRequestResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ApprovalStatus
    def __init__(self, status: _Optional[_Union[ApprovalStatus, str]] = ...) -> None: ...

class WatchApprovalRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchApprovalRequestResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ApprovalStatus
    def __init__(self, status: _Optional[_Union[ApprovalStatus, str]] = ...) -> None: ...

class VerifyCallbackSignatureRequest(_message.Message):
    __slots__ = ("method", "url", "params", "body", "nonce", "signature")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    params: _containers.ScalarMap[str, str]
    body: bytes
    nonce: str
    signature: str
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., nonce: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class VerifyCallbackSignatureResponse(_message.Message):
    __slots__ = ("valid", "reason", "detail")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: _auth_pb2.Reason
    detail: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[_Union[_auth_pb2.Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class StartPhoneVerificationRequest(_message.Message):
    __slots__ = ("country", "phone", "via", "locale", "code_length")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    CODE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    country: str
    phone: str
    via: VerificationVia
    locale: str
    code_length: int
    def __init__(self, country: _Optional[str] = ..., phone: _Optional[str] = ..., via: _Optional[_Union[VerificationVia, str]] = ..., locale: _Optional[str] = ..., code_length: _Optional[int] = ...) -> None: ...

class StartPhoneVerificationResponse(_message.Message):
    __slots__ = ("message", "seconds_to_expire", "is_cellphone")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_TO_EXPIRE_FIELD_NUMBER: _ClassVar[int]
    IS_CELLPHONE_FIELD_NUMBER: _ClassVar[int]
    message: str
    seconds_to_expire: int
    is_cellphone: bool
    def __init__(self, message: _Optional[str] = ..., seconds_to_expire: _Optional[int] = ..., is_cellphone: _Optional[bool] = ...) -> None: ...

class CheckPhoneVerificationRequest(_message.Message):
    __slots__ = ("country", "phone", "code")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    country: str
    phone: str
    code: str
    def __init__(self, country: _Optional[str] = ..., phone: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class CheckPhoneVerificationResponse(_message.Message):
    __slots__ = ("valid", "reason", "detail")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: _auth_pb2.Reason
    detail: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[_Union[_auth_pb2.Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class RegisterUserRequest(_message.Message):
    __slots__ = ("email", "country", "phone")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    email: str
    country: str
    phone: str
    def __init__(self, email: _Optional[str] = ..., country: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class RegisterUserResponse(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUserStatusRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUserStatusResponse(_message.Message):
    __slots__ = ("user_id", "registered", "confirmed", "country_code", "phone_number", "devices", "has_hard_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    HAS_HARD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    registered: bool
    confirmed: bool
    country_code: str
    phone_number: str
    devices: _containers.RepeatedScalarFieldContainer[str]
    has_hard_token: bool
    def __init__(self, user_id: _Optional[str] = ..., registered: _Optional[bool] = ..., confirmed: _Optional[bool] = ..., country_code: _Optional[str] = ..., phone_number: _Optional[str] = ..., devices: _Optional[_Iterable[str]] = ..., has_hard_token: _Optional[bool] = ...) -> None: ...

class RequestSmsRequest(_message.Message):
    __slots__ = ("user_id", "force", "action", "action_message", "country", "phone")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    force: bool
    action: str
    action_message: str
    country: str
    phone: str
    def __init__(self, user_id: _Optional[str] = ..., force: _Optional[bool] = ..., action: _Optional[str] = ..., action_message: _Optional[str] = ..., country: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class RequestSmsResponse(_message.Message):
    __slots__ = ("message", "cellphone", "device", "ignored")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CELLPHONE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    message: str
    cellphone: str
    device: str
    ignored: bool
    def __init__(self, message: _Optional[str] = ..., cellphone: _Optional[str] = ..., device: _Optional[str] = ..., ignored: _Optional[bool] = ...) -> None: ...

class RequestCallRequest(_message.Message):
    __slots__ = ("user_id", "force", "action", "action_message", "country", "phone")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    force: bool
    action: str
    action_message: str
    country: str
    phone: str
    def __init__(self, user_id: _Optional[str] = ..., force: _Optional[bool] = ..., action: _Optional[str] = ..., action_message: _Optional[str] = ..., country: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class RequestCallResponse(_message.Message):
    __slots__ = ("message", "cellphone", "device", "ignored")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CELLPHONE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    message: str
    cellphone: str
    device: str
    ignored: bool
    def __init__(self, message: _Optional[str] = ..., cellphone: _Optional[str] = ..., device: _Optional[str] = ..., ignored: _Optional[bool] = ...) -> None: ...

class EnrollTotpRequest(_message.Message):
    __slots__ = ("user_id", "friendly_name")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FRIENDLY_NAME_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    friendly_name: str
    def __init__(self, user_id: _Optional[str] = ..., friendly_name: _Optional[str] = ...) -> None: ...

class EnrollTotpResponse(_message.Message):
    __slots__ = ("factor_id", "binding_uri", "secret")
    FACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    BINDING_URI_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    factor_id: str
    binding_uri: str
    secret: str
    def __init__(self, factor_id: _Optional[str] = ..., binding_uri: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class ConfirmTotpRequest(_message.Message):
    __slots__ = ("user_id", "factor_id", "code")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    factor_id: str
    code: str
    def __init__(self, user_id: _Optional[str] = ..., factor_id: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class ConfirmTotpResponse(_message.Message):
    __slots__ = ("valid", "reason", "detail")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: _auth_pb2.Reason
    detail: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[_Union[_auth_pb2.Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AccountTokens(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_in", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("email", "password")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("tokens", "mfa_required", "mfa_token")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MFA_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    MFA_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tokens: AccountTokens
    mfa_required: bool
    mfa_token: str
    def __init__(self, tokens: _Optional[_Union[AccountTokens, _Mapping]] = ..., mfa_required: _Optional[bool] = ..., mfa_token: _Optional[str] = ...) -> None: ...

class CompleteMfaRequest(_message.Message):
    __slots__ = ("mfa_token", "code")
    MFA_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    mfa_token: str
    code: str
    def __init__(self, mfa_token: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class CompleteMfaResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AccountTokens
    def __init__(self, tokens: _Optional[_Union[AccountTokens, _Mapping]] = ...) -> None: ...

class RefreshRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AccountTokens
    def __init__(self, tokens: _Optional[_Union[AccountTokens, _Mapping]] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetMeRequest(_message.Message):
    __slots__ = ("access_token",)
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    def __init__(self, access_token: _Optional[str] = ...) -> None: ...

class GetMeResponse(_message.Message):
    __slots__ = ("user_id", "email", "first_name", "last_name", "mfa_enabled")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    MFA_ENABLED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    first_name: str
    last_name: str
    mfa_enabled: bool
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., mfa_enabled: _Optional[bool] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("access_token",)
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    def __init__(self, access_token: _Optional[str] = ...) -> None: ...

class AccountSession(_message.Message):
    __slots__ = ("session_id", "device", "ip", "created_at", "last_seen_at", "current")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    device: str
    ip: str
    created_at: int
    last_seen_at: int
    current: bool
    def __init__(self, session_id: _Optional[str] = ..., device: _Optional[str] = ..., ip: _Optional[str] = ..., created_at: _Optional[int] = ..., last_seen_at: _Optional[int] = ..., current: _Optional[bool] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[AccountSession]
    def __init__(self, sessions: _Optional[_Iterable[_Union[AccountSession, _Mapping]]] = ...) -> None: ...

class LogoutSessionRequest(_message.Message):
    __slots__ = ("access_token", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class LogoutSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("email", "password", "first_name", "last_name")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    first_name: str
    last_name: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("tokens", "user_id")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    tokens: AccountTokens
    user_id: str
    def __init__(self, tokens: _Optional[_Union[AccountTokens, _Mapping]] = ..., user_id: _Optional[str] = ...) -> None: ...

class SetActiveOrganizationRequest(_message.Message):
    __slots__ = ("access_token", "organization_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    organization_id: str
    def __init__(self, access_token: _Optional[str] = ..., organization_id: _Optional[str] = ...) -> None: ...

class SetActiveOrganizationResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AccountTokens
    def __init__(self, tokens: _Optional[_Union[AccountTokens, _Mapping]] = ...) -> None: ...

class ForgotPasswordRequest(_message.Message):
    __slots__ = ("email",)
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    email: str
    def __init__(self, email: _Optional[str] = ...) -> None: ...

class ForgotPasswordResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class ResetPasswordRequest(_message.Message):
    __slots__ = ("token", "new_password", "email")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    token: str
    new_password: str
    email: str
    def __init__(self, token: _Optional[str] = ..., new_password: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class ResetPasswordResponse(_message.Message):
    __slots__ = ("message", "revoked_tokens")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REVOKED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    message: str
    revoked_tokens: int
    def __init__(self, message: _Optional[str] = ..., revoked_tokens: _Optional[int] = ...) -> None: ...

class VerifyEmailRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class VerifyEmailResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class ToggleTwoFactorRequest(_message.Message):
    __slots__ = ("access_token", "enable")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ENABLE_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    enable: bool
    def __init__(self, access_token: _Optional[str] = ..., enable: _Optional[bool] = ...) -> None: ...

class ToggleTwoFactorResponse(_message.Message):
    __slots__ = ("confirmation_required", "code", "message")
    CONFIRMATION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    confirmation_required: bool
    code: str
    message: str
    def __init__(self, confirmation_required: _Optional[bool] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ConfirmEnableTwoFactorRequest(_message.Message):
    __slots__ = ("access_token", "email", "code")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    email: str
    code: str
    def __init__(self, access_token: _Optional[str] = ..., email: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class ConfirmEnableTwoFactorResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class RequestEmailChangeRequest(_message.Message):
    __slots__ = ("access_token", "new_email")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEW_EMAIL_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    new_email: str
    def __init__(self, access_token: _Optional[str] = ..., new_email: _Optional[str] = ...) -> None: ...

class RequestEmailChangeResponse(_message.Message):
    __slots__ = ("email_change_token",)
    EMAIL_CHANGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    email_change_token: str
    def __init__(self, email_change_token: _Optional[str] = ...) -> None: ...

class ConfirmEmailChangeRequest(_message.Message):
    __slots__ = ("access_token", "email", "token")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    email: str
    token: str
    def __init__(self, access_token: _Optional[str] = ..., email: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class ConfirmEmailChangeResponse(_message.Message):
    __slots__ = ("message", "revoked_tokens")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REVOKED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    message: str
    revoked_tokens: int
    def __init__(self, message: _Optional[str] = ..., revoked_tokens: _Optional[int] = ...) -> None: ...

class RegisterActivityRequest(_message.Message):
    __slots__ = ("user_id", "type", "data", "ip")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    type: str
    data: _containers.ScalarMap[str, str]
    ip: str
    def __init__(self, user_id: _Optional[str] = ..., type: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ..., ip: _Optional[str] = ...) -> None: ...

class RegisterActivityResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class GetApplicationStatisticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MonthlyStatistics(_message.Message):
    __slots__ = ("year", "month", "api_calls_count", "auths_count", "calls_count", "sms_count", "users_count")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    API_CALLS_COUNT_FIELD_NUMBER: _ClassVar[int]
    AUTHS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CALLS_COUNT_FIELD_NUMBER: _ClassVar[int]
    SMS_COUNT_FIELD_NUMBER: _ClassVar[int]
    USERS_COUNT_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: str
    api_calls_count: int
    auths_count: int
    calls_count: int
    sms_count: int
    users_count: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[str] = ..., api_calls_count: _Optional[int] = ..., auths_count: _Optional[int] = ..., calls_count: _Optional[int] = ..., sms_count: _Optional[int] = ..., users_count: _Optional[int] = ...) -> None: ...

class GetApplicationStatisticsResponse(_message.Message):
    __slots__ = ("app_id", "total_users", "months")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USERS_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    app_id: int
    total_users: int
    months: _containers.RepeatedCompositeFieldContainer[MonthlyStatistics]
    def __init__(self, app_id: _Optional[int] = ..., total_users: _Optional[int] = ..., months: _Optional[_Iterable[_Union[MonthlyStatistics, _Mapping]]] = ...) -> None: ...

class GetPhoneInformationRequest(_message.Message):
    __slots__ = ("phone", "country", "ip")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    phone: str
    country: str
    ip: str
    def __init__(self, phone: _Optional[str] = ..., country: _Optional[str] = ..., ip: _Optional[str] = ...) -> None: ...

class GetPhoneInformationResponse(_message.Message):
    __slots__ = ("type", "provider", "ported", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PORTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    provider: str
    ported: bool
    message: str
    def __init__(self, type: _Optional[str] = ..., provider: _Optional[str] = ..., ported: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
