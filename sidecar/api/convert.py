"""Core answers ⇄ proto messages. Enum members map by name, so the two vocabularies can't drift apart."""

from __future__ import annotations

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from authsidecar.v1 import auth_pb2 as pb

from ..core.answers import AuthInfo
from ..core.outcomes import ActionState, Reason, SessionStatus, Source


def reason(r: Reason) -> int:
    return pb.Reason.Value(f"REASON_{r.value}")


def source(s: Source) -> int:
    return pb.Source.Value(f"SOURCE_{s.value}")


def session_status(s: SessionStatus) -> int:
    return pb.SessionStatus.Value(f"SESSION_STATUS_{s.value}")


def action_state(s: ActionState) -> int:
    return pb.ActionState.Value(f"ACTION_STATE_{s.value}")


def timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1_000_000_000))
    return ts


def struct(data: dict) -> Struct:
    s = Struct()
    s.update(data)
    return s


def auth_info(a: AuthInfo) -> pb.AuthInfo:
    return pb.AuthInfo(
        subject=a.subject,
        issuer=a.issuer,
        audiences=list(a.audiences),
        expires_at=timestamp(a.expires_at),
        issued_at=timestamp(a.issued_at),
        session_id=a.session_id,
        scopes=list(a.scopes),
        permissions=list(a.permissions),
        roles=list(a.roles),
        org_id=a.org_id,
        claims=struct(a.claims),
        key_id=a.key_id,
        token_id=a.token_id,
    )
