"""Core answers ⇄ proto messages. Enum members map by name, so the two vocabularies can't drift apart."""

from __future__ import annotations

import functools
import json
import math
from typing import cast

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from authsidecar.v1 import auth_pb2 as pb
from sidecar.core.shared.answers import AuthInfo, TokenAnswer
from sidecar.core.shared.outcomes import ActionState, Reason, SessionStatus, Source
from sidecar.core.tokens.verifier import RECENT_MAX, memoised

from . import rpc

# Enum members map by name (so the core's and the contract's vocabularies can't drift apart);
# the tables are built once, at import, and fail loudly there if a member has no proto twin.
# (Value() is typed int; the casts name the proto enum the message constructors expect.)
_REASONS = {r: cast("pb.Reason", pb.Reason.Value(f"REASON_{r.value}")) for r in Reason}
_SOURCES = {s: cast("pb.Source", pb.Source.Value(f"SOURCE_{s.value}")) for s in Source}
_SESSION_STATUSES = {
    s: cast("pb.SessionStatus", pb.SessionStatus.Value(f"SESSION_STATUS_{s.value}")) for s in SessionStatus
}
_ACTION_STATES = {s: cast("pb.ActionState", pb.ActionState.Value(f"ACTION_STATE_{s.value}")) for s in ActionState}


def reason(r: Reason) -> pb.Reason:
    return _REASONS[r]


def source(s: Source) -> pb.Source:
    return _SOURCES[s]


def session_status(s: SessionStatus) -> pb.SessionStatus:
    return _SESSION_STATUSES[s]


def action_state(s: ActionState) -> pb.ActionState:
    return _ACTION_STATES[s]


# Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_TIME, MAX_TIME = -62_135_596_800, 253_402_300_799


def timestamp(seconds: float | None) -> Timestamp | None:
    """The time as a Timestamp; unset for a time it can't hold (the core and the adapters refuse
    those earlier — token claims are MALFORMED, upstream answers bad — so this is the last guard)."""
    if seconds is None or not MIN_TIME <= seconds <= MAX_TIME:  # NaN fails the comparison too
        return None
    whole = math.floor(seconds)  # not seconds * 1e9: a double can't hold year-9999 nanoseconds exactly
    return Timestamp(seconds=whole, nanos=min(int((seconds - whole) * 1_000_000_000), 999_999_999))


INT32_MAX = 2**31 - 1


def seconds32(seconds: int) -> int:
    """A duration from an upstream answer for an int32 field: past 68 years it saturates, below 0 is 0."""
    return min(max(seconds, 0), INT32_MAX)


def struct(data: dict) -> Struct:
    s = Struct()
    s.update(data)
    return s


def token_response(valid: bool, r: Reason, detail: str, s: Source, auth: AuthInfo | None) -> pb.VerifyTokenResponse:
    """VerifyToken's answer. A hot token is answered from cache over and over with the same identity:
    its whole answer is parsed from a memoised encoding (native) instead of being built, claims
    Struct and all, in Python each time. Bounded; keyed by the whole AuthInfo."""
    if not valid or auth is None:
        return pb.VerifyTokenResponse(valid=valid, reason=_REASONS[r], detail=detail, source=_SOURCES[s])
    if s is Source.CACHE and not detail and memoised(auth.claims_json):  # bounded in bytes, as the verifier's memo
        return pb.VerifyTokenResponse.FromString(_cached_answer_bytes(auth))
    return pb.VerifyTokenResponse(valid=True, detail=detail, source=_SOURCES[s], auth=auth_info(auth))


# The hottest tokens skip even that parse: the verifier answers every hit of one cached identity with
# the very same TokenAnswer object, and its message is handed out again. Keyed by that object's
# identity (the entry holds the object, so its id can't be reused while the entry lives), oldest out
# first, bounded by the answers' encoded bytes: a parsed message takes ~9× its encoding in memory, so
# HOT_BYTES of encodings is ~3.5 MB: ~1,400 answers of a usual size (~270 B). Oldest-out thrashes when
# tokens come round-robin over more than it holds (none is still there when it comes back), so it holds
# a hot set of the bench's size (1,000) whole; a larger one is answered from the encodings below.
# The message is shared: nothing may change it (gRPC serialises it; VerifyStream copies it into its own
# answer).
HOT_BYTES = 384 * 1024
_HOT: dict[int, tuple[TokenAnswer, pb.VerifyTokenResponse, int]] = {}
_hot_bytes = 0


def token_answer(answer: TokenAnswer) -> pb.VerifyTokenResponse:
    """VerifyToken's answer for the core's."""
    global _hot_bytes
    hot = _HOT.get(id(answer))
    if hot is not None and hot[0] is answer:
        return hot[1]
    v, auth = answer.verdict, answer.auth
    response = token_response(v.valid, v.reason, v.detail, v.source, auth)
    if v.valid and v.source is Source.CACHE and not v.detail and auth is not None and memoised(auth.claims_json):
        size = response.ByteSize()
        while _HOT and _hot_bytes + size > HOT_BYTES:
            _, dropped, dropped_size = _HOT.pop(next(iter(_HOT)))
            rpc.unshared(dropped)
            _hot_bytes -= dropped_size
        _HOT[id(answer)] = (answer, rpc.shared(response), size)
        _hot_bytes += size
    return response


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
        claims=struct(json.loads(a.claims_json)),
        key_id=a.key_id,
        token_id=a.token_id,
    )


@functools.lru_cache(maxsize=RECENT_MAX)  # the hot tokens, as many as the verifier keeps parsed
def _cached_answer_bytes(a: AuthInfo) -> bytes:
    answer = pb.VerifyTokenResponse(valid=True, source=_SOURCES[Source.CACHE], auth=auth_info(a))
    return answer.SerializeToString()
