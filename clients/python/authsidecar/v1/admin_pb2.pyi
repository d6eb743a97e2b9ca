from authsidecar.v1 import factors_pb2 as _factors_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdminRequest(_message.Message):
    __slots__ = ("access_token", "app_id", "environment_id", "name", "slug", "key_id", "email", "password", "first_name", "last_name", "page", "limit")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    app_id: str
    environment_id: str
    name: str
    slug: str
    key_id: str
    email: str
    password: str
    first_name: str
    last_name: str
    page: int
    limit: int
    def __init__(self, access_token: _Optional[str] = ..., app_id: _Optional[str] = ..., environment_id: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., key_id: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., page: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AdminAnswer(_message.Message):
    __slots__ = ("answer",)
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    answer: _struct_pb2.Struct
    def __init__(self, answer: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
