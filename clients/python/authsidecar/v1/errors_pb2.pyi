from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class UpstreamErrorDetail(_message.Message):
    __slots__ = ("upstream", "http_status", "message", "body")
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    upstream: str
    http_status: int
    message: str
    body: str
    def __init__(self, upstream: _Optional[str] = ..., http_status: _Optional[int] = ..., message: _Optional[str] = ..., body: _Optional[str] = ...) -> None: ...
