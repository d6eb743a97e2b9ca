import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_EXPIRED: _ClassVar[Reason]
    REASON_REVOKED: _ClassVar[Reason]
    REASON_NOT_VERIFIED: _ClassVar[Reason]
    REASON_SUBJECT_MISMATCH: _ClassVar[Reason]
    REASON_BAD_SIGNATURE: _ClassVar[Reason]
    REASON_UNKNOWN_KEY: _ClassVar[Reason]
    REASON_UNTRUSTED_ISSUER: _ClassVar[Reason]
    REASON_BAD_AUDIENCE: _ClassVar[Reason]
    REASON_MALFORMED: _ClassVar[Reason]
    REASON_ALREADY_USED: _ClassVar[Reason]
    REASON_UPSTREAM_UNAVAILABLE: _ClassVar[Reason]
    REASON_NOT_FOUND: _ClassVar[Reason]
    REASON_PHONE_MISMATCH: _ClassVar[Reason]
    REASON_INSUFFICIENT_SCOPE: _ClassVar[Reason]
    REASON_NOT_YET_VALID: _ClassVar[Reason]
    REASON_BAD_ALGORITHM: _ClassVar[Reason]
    REASON_MISSING_CLAIM: _ClassVar[Reason]
    REASON_ACTION_MISMATCH: _ClassVar[Reason]
    REASON_CHALLENGE_FAILED: _ClassVar[Reason]
    REASON_LIFETIME_TOO_LONG: _ClassVar[Reason]
    REASON_UNSUPPORTED_HEADER: _ClassVar[Reason]
    REASON_BLOCKED: _ClassVar[Reason]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_CACHE: _ClassVar[Source]
    SOURCE_UPSTREAM: _ClassVar[Source]
    SOURCE_STREAM: _ClassVar[Source]
    SOURCE_LOCAL: _ClassVar[Source]

class SessionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATUS_UNSPECIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_PENDING: _ClassVar[SessionStatus]
    SESSION_STATUS_VERIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_REVOKED: _ClassVar[SessionStatus]
    SESSION_STATUS_EXPIRED: _ClassVar[SessionStatus]
    SESSION_STATUS_NOT_FOUND: _ClassVar[SessionStatus]
    SESSION_STATUS_UNKNOWN: _ClassVar[SessionStatus]

class ActionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_STATE_UNSPECIFIED: _ClassVar[ActionState]
    ACTION_STATE_CHALLENGE_REQUIRED: _ClassVar[ActionState]
    ACTION_STATE_CHALLENGE_SUCCEEDED: _ClassVar[ActionState]
    ACTION_STATE_CHALLENGE_FAILED: _ClassVar[ActionState]
    ACTION_STATE_ALLOW: _ClassVar[ActionState]
    ACTION_STATE_BLOCK: _ClassVar[ActionState]
    ACTION_STATE_REVIEW: _ClassVar[ActionState]
REASON_UNSPECIFIED: Reason
REASON_EXPIRED: Reason
REASON_REVOKED: Reason
REASON_NOT_VERIFIED: Reason
REASON_SUBJECT_MISMATCH: Reason
REASON_BAD_SIGNATURE: Reason
REASON_UNKNOWN_KEY: Reason
REASON_UNTRUSTED_ISSUER: Reason
REASON_BAD_AUDIENCE: Reason
REASON_MALFORMED: Reason
REASON_ALREADY_USED: Reason
REASON_UPSTREAM_UNAVAILABLE: Reason
REASON_NOT_FOUND: Reason
REASON_PHONE_MISMATCH: Reason
REASON_INSUFFICIENT_SCOPE: Reason
REASON_NOT_YET_VALID: Reason
REASON_BAD_ALGORITHM: Reason
REASON_MISSING_CLAIM: Reason
REASON_ACTION_MISMATCH: Reason
REASON_CHALLENGE_FAILED: Reason
REASON_LIFETIME_TOO_LONG: Reason
REASON_UNSUPPORTED_HEADER: Reason
REASON_BLOCKED: Reason
SOURCE_UNSPECIFIED: Source
SOURCE_CACHE: Source
SOURCE_UPSTREAM: Source
SOURCE_STREAM: Source
SOURCE_LOCAL: Source
SESSION_STATUS_UNSPECIFIED: SessionStatus
SESSION_STATUS_PENDING: SessionStatus
SESSION_STATUS_VERIFIED: SessionStatus
SESSION_STATUS_REVOKED: SessionStatus
SESSION_STATUS_EXPIRED: SessionStatus
SESSION_STATUS_NOT_FOUND: SessionStatus
SESSION_STATUS_UNKNOWN: SessionStatus
ACTION_STATE_UNSPECIFIED: ActionState
ACTION_STATE_CHALLENGE_REQUIRED: ActionState
ACTION_STATE_CHALLENGE_SUCCEEDED: ActionState
ACTION_STATE_CHALLENGE_FAILED: ActionState
ACTION_STATE_ALLOW: ActionState
ACTION_STATE_BLOCK: ActionState
ACTION_STATE_REVIEW: ActionState

class AuthInfo(_message.Message):
    __slots__ = ("subject", "issuer", "audiences", "expires_at", "issued_at", "session_id", "scopes", "permissions", "roles", "org_id", "claims", "key_id", "token_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    issuer: str
    audiences: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    issued_at: _timestamp_pb2.Timestamp
    session_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    permissions: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    org_id: str
    claims: _struct_pb2.Struct
    key_id: str
    token_id: str
    def __init__(self, subject: _Optional[str] = ..., issuer: _Optional[str] = ..., audiences: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., permissions: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[str]] = ..., org_id: _Optional[str] = ..., claims: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., key_id: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class VerifyTokenRequest(_message.Message):
    __slots__ = ("token", "audience", "required_scopes")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SCOPES_FIELD_NUMBER: _ClassVar[int]
    token: str
    audience: str
    required_scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token: _Optional[str] = ..., audience: _Optional[str] = ..., required_scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class VerifyTokenResponse(_message.Message):
    __slots__ = ("valid", "reason", "detail", "source", "auth")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: Reason
    detail: str
    source: Source
    auth: AuthInfo
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., auth: _Optional[_Union[AuthInfo, _Mapping]] = ...) -> None: ...

class VerifySessionRequest(_message.Message):
    __slots__ = ("session_token", "phone", "default_region")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    phone: str
    default_region: str
    def __init__(self, session_token: _Optional[str] = ..., phone: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class VerifySessionResponse(_message.Message):
    __slots__ = ("valid", "status", "reason", "detail", "source")
    VALID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    status: SessionStatus
    reason: Reason
    detail: str
    source: Source
    def __init__(self, valid: _Optional[bool] = ..., status: _Optional[_Union[SessionStatus, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class GetSessionStatusRequest(_message.Message):
    __slots__ = ("session_token", "phone", "default_region")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    phone: str
    default_region: str
    def __init__(self, session_token: _Optional[str] = ..., phone: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class GetSessionStatusResponse(_message.Message):
    __slots__ = ("status", "phone", "expires_at", "source", "reason", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: SessionStatus
    phone: str
    expires_at: _timestamp_pb2.Timestamp
    source: Source
    reason: Reason
    detail: str
    def __init__(self, status: _Optional[_Union[SessionStatus, str]] = ..., phone: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifyApprovalRequest(_message.Message):
    __slots__ = ("approval_token", "phone", "default_region")
    APPROVAL_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    approval_token: str
    phone: str
    default_region: str
    def __init__(self, approval_token: _Optional[str] = ..., phone: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class VerifyApprovalResponse(_message.Message):
    __slots__ = ("valid", "action", "session_token", "reason", "detail", "source", "expires_at")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    action: str
    session_token: str
    reason: Reason
    detail: str
    source: Source
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, valid: _Optional[bool] = ..., action: _Optional[str] = ..., session_token: _Optional[str] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IsRevokedRequest(_message.Message):
    __slots__ = ("session_token", "phone", "default_region")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    phone: str
    default_region: str
    def __init__(self, session_token: _Optional[str] = ..., phone: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class IsRevokedResponse(_message.Message):
    __slots__ = ("revoked", "reason", "detail", "source")
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    reason: Reason
    detail: str
    source: Source
    def __init__(self, revoked: _Optional[bool] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class ValidateChallengeRequest(_message.Message):
    __slots__ = ("token", "user_id", "action")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    token: str
    user_id: str
    action: str
    def __init__(self, token: _Optional[str] = ..., user_id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class ValidateChallengeResponse(_message.Message):
    __slots__ = ("is_valid", "state", "user_id", "action", "reason", "detail", "idempotency_key", "verification_method", "source")
    IS_VALID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    is_valid: bool
    state: ActionState
    user_id: str
    action: str
    reason: Reason
    detail: str
    idempotency_key: str
    verification_method: str
    source: Source
    def __init__(self, is_valid: _Optional[bool] = ..., state: _Optional[_Union[ActionState, str]] = ..., user_id: _Optional[str] = ..., action: _Optional[str] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., verification_method: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class TrackRequest(_message.Message):
    __slots__ = ("user_id", "action", "redirect_url", "idempotency_key", "email", "phone_number", "ip_address", "user_agent", "device_id", "username", "custom", "redirect_to_settings")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_TO_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    action: str
    redirect_url: str
    idempotency_key: str
    email: str
    phone_number: str
    ip_address: str
    user_agent: str
    device_id: str
    username: str
    custom: _struct_pb2.Struct
    redirect_to_settings: bool
    def __init__(self, user_id: _Optional[str] = ..., action: _Optional[str] = ..., redirect_url: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., email: _Optional[str] = ..., phone_number: _Optional[str] = ..., ip_address: _Optional[str] = ..., user_agent: _Optional[str] = ..., device_id: _Optional[str] = ..., username: _Optional[str] = ..., custom: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., redirect_to_settings: _Optional[bool] = ...) -> None: ...

class TrackResponse(_message.Message):
    __slots__ = ("state", "idempotency_key", "url", "token", "is_enrolled", "enrolled_verification_methods", "allowed_verification_methods", "default_verification_method", "rule_ids")
    STATE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    IS_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_VERIFICATION_METHODS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VERIFICATION_METHODS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    RULE_IDS_FIELD_NUMBER: _ClassVar[int]
    state: ActionState
    idempotency_key: str
    url: str
    token: str
    is_enrolled: bool
    enrolled_verification_methods: _containers.RepeatedScalarFieldContainer[str]
    allowed_verification_methods: _containers.RepeatedScalarFieldContainer[str]
    default_verification_method: str
    rule_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, state: _Optional[_Union[ActionState, str]] = ..., idempotency_key: _Optional[str] = ..., url: _Optional[str] = ..., token: _Optional[str] = ..., is_enrolled: _Optional[bool] = ..., enrolled_verification_methods: _Optional[_Iterable[str]] = ..., allowed_verification_methods: _Optional[_Iterable[str]] = ..., default_verification_method: _Optional[str] = ..., rule_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetActionRequest(_message.Message):
    __slots__ = ("user_id", "action", "idempotency_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    action: str
    idempotency_key: str
    def __init__(self, user_id: _Optional[str] = ..., action: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetActionResponse(_message.Message):
    __slots__ = ("state", "state_updated_at", "created_at", "verification_method", "rule_ids")
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    RULE_IDS_FIELD_NUMBER: _ClassVar[int]
    state: ActionState
    state_updated_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    verification_method: str
    rule_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, state: _Optional[_Union[ActionState, str]] = ..., state_updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verification_method: _Optional[str] = ..., rule_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("is_enrolled", "email", "phone_number", "username", "display_name", "enrolled_verification_methods", "allowed_verification_methods", "default_verification_method")
    IS_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_VERIFICATION_METHODS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_VERIFICATION_METHODS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    is_enrolled: bool
    email: str
    phone_number: str
    username: str
    display_name: str
    enrolled_verification_methods: _containers.RepeatedScalarFieldContainer[str]
    allowed_verification_methods: _containers.RepeatedScalarFieldContainer[str]
    default_verification_method: str
    def __init__(self, is_enrolled: _Optional[bool] = ..., email: _Optional[str] = ..., phone_number: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., enrolled_verification_methods: _Optional[_Iterable[str]] = ..., allowed_verification_methods: _Optional[_Iterable[str]] = ..., default_verification_method: _Optional[str] = ...) -> None: ...

class EnrollVerifiedAuthenticatorRequest(_message.Message):
    __slots__ = ("user_id", "verification_method", "phone_number", "email", "is_default")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    verification_method: str
    phone_number: str
    email: str
    is_default: bool
    def __init__(self, user_id: _Optional[str] = ..., verification_method: _Optional[str] = ..., phone_number: _Optional[str] = ..., email: _Optional[str] = ..., is_default: _Optional[bool] = ...) -> None: ...

class EnrollVerifiedAuthenticatorResponse(_message.Message):
    __slots__ = ("user_authenticator_id", "verification_method", "recovery_codes")
    USER_AUTHENTICATOR_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_METHOD_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_CODES_FIELD_NUMBER: _ClassVar[int]
    user_authenticator_id: str
    verification_method: str
    recovery_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_authenticator_id: _Optional[str] = ..., verification_method: _Optional[str] = ..., recovery_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckUpstreamHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpstreamHealth(_message.Message):
    __slots__ = ("name", "healthy", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    healthy: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., healthy: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckUpstreamHealthResponse(_message.Message):
    __slots__ = ("healthy", "upstreams")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    upstreams: _containers.RepeatedCompositeFieldContainer[UpstreamHealth]
    def __init__(self, healthy: _Optional[bool] = ..., upstreams: _Optional[_Iterable[_Union[UpstreamHealth, _Mapping]]] = ...) -> None: ...

class VerifyStreamRequest(_message.Message):
    __slots__ = ("id", "timeout", "verify_token", "verify_session", "is_revoked", "get_session_status", "items")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VERIFY_SESSION_FIELD_NUMBER: _ClassVar[int]
    IS_REVOKED_FIELD_NUMBER: _ClassVar[int]
    GET_SESSION_STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    id: int
    timeout: _duration_pb2.Duration
    verify_token: VerifyTokenRequest
    verify_session: VerifySessionRequest
    is_revoked: IsRevokedRequest
    get_session_status: GetSessionStatusRequest
    items: _containers.RepeatedCompositeFieldContainer[VerifyStreamRequest]
    def __init__(self, id: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., verify_token: _Optional[_Union[VerifyTokenRequest, _Mapping]] = ..., verify_session: _Optional[_Union[VerifySessionRequest, _Mapping]] = ..., is_revoked: _Optional[_Union[IsRevokedRequest, _Mapping]] = ..., get_session_status: _Optional[_Union[GetSessionStatusRequest, _Mapping]] = ..., items: _Optional[_Iterable[_Union[VerifyStreamRequest, _Mapping]]] = ...) -> None: ...

class VerifyStreamResponse(_message.Message):
    __slots__ = ("id", "verify_token", "verify_session", "is_revoked", "get_session_status", "error", "answers")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VERIFY_SESSION_FIELD_NUMBER: _ClassVar[int]
    IS_REVOKED_FIELD_NUMBER: _ClassVar[int]
    GET_SESSION_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    id: int
    verify_token: VerifyTokenResponse
    verify_session: VerifySessionResponse
    is_revoked: IsRevokedResponse
    get_session_status: GetSessionStatusResponse
    error: _status_pb2.Status
    answers: _containers.RepeatedCompositeFieldContainer[VerifyStreamResponse]
    def __init__(self, id: _Optional[int] = ..., verify_token: _Optional[_Union[VerifyTokenResponse, _Mapping]] = ..., verify_session: _Optional[_Union[VerifySessionResponse, _Mapping]] = ..., is_revoked: _Optional[_Union[IsRevokedResponse, _Mapping]] = ..., get_session_status: _Optional[_Union[GetSessionStatusResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., answers: _Optional[_Iterable[_Union[VerifyStreamResponse, _Mapping]]] = ...) -> None: ...
