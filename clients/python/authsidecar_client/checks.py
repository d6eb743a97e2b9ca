"""What the middleware asks the sidecar and how an answer becomes an identity or an HTTP denial.

Framework-free: authsidecar_client.starlette and authsidecar_client.flask only carry requests and
responses to and from here. The statuses and WWW-Authenticate values are those of the sidecar's own
ext_authz policy (sidecar/core/ext_authz/policy.py), so an app behind Envoy and an app using this
middleware answer a client the same way:

- no credential: 401 with `Bearer realm="authsidecar"` (or `Session …`), no error code (RFC 6750 §3);
- a credential that is not usable (not Bearer, oversized, not printable ASCII) or refused by the
  sidecar as INVALID_ARGUMENT: 401, `error="invalid_request"`;
- a credential that is not valid: 401, `error="invalid_token"`; missing scopes: 403
  `error="insufficient_scope"`; an approval or a step-up challenge that is not good: 403;
- the sidecar or its upstream unreachable, or any other failure: 503. Fail closed, never a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from authsidecar.v1 import auth_pb2 as pb

REALM = 'realm="authsidecar"'
IDENTITY_PREFIX = "x-auth-"  # incoming headers with it are forged by definition and removed
MAX_CREDENTIAL_BYTES = 16 * 1024  # the sidecar's limits.max_token_bytes default; refused before a call
MAX_BODY_BYTES = 64 * 1024  # credentials read from a JSON body: only from a sized body this small
_BEARER = re.compile(r"Bearer +([!-~]+) *", re.IGNORECASE)

KINDS = ("jwt", "session", "revocation", "approval", "challenge")


@dataclass(frozen=True, slots=True)
class HeaderNames:
    """Where credentials are read from (the sidecar's ext_authz defaults)."""

    authorization: str = "authorization"
    session_token: str = "x-session-token"
    phone: str = "x-user-phone"
    approval_token: str = "x-approval-token"
    challenge_token: str = "x-challenge-token"


DEFAULT_HEADERS = HeaderNames()


@dataclass(frozen=True, slots=True)
class Credentials:
    """A token and, for the RAuth checks, the phone it belongs to (None: not presented)."""

    token: str | None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """What a passed check established. Set on the request by the middleware; never read from headers."""

    kind: str  # jwt | session
    subject: str  # the JWT's sub; for a session, the phone
    phone: str = ""
    issuer: str = ""
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    session_id: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)

    def headers(self, prefix: str = IDENTITY_PREFIX) -> list[tuple[str, str]]:
        """The identity headers ext_authz would add for the app (x-auth-subject, …)."""
        pairs = [("subject", self.subject), ("phone", self.phone), ("issuer", self.issuer)]
        pairs += [("scopes", " ".join(self.scopes)), ("session-id", self.session_id)]
        # Only what a header can carry verbatim (a claim with other characters stays on the Identity).
        return [(prefix + n, v) for n, v in pairs if v and len(v) <= 4096 and v.isascii() and v.isprintable()]


@dataclass(frozen=True, slots=True)
class Approval:
    """A one-time approval that passed (and is now spent)."""

    action: str


class Denial(Exception):
    """The HTTP answer for a request that did not pass: status, reason (for the body) and headers."""

    def __init__(self, status: int, reason: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.headers = status, reason, tuple(headers)

    def body(self) -> bytes:
        return json.dumps({"error": self.reason}).encode()


def challenge_header(kind: str, error: str | None) -> tuple[tuple[str, str], ...]:
    scheme = "Bearer" if kind == "jwt" else "Session"
    return (("www-authenticate", f"{scheme} {REALM}" + (f', error="{error}"' if error else "")),)


def usable(name: str, value: str | None) -> str | None:
    """A credential as presented, None when absent; a Denial when it cannot be a credential at all."""
    if not value:
        return None
    if len(value) > MAX_CREDENTIAL_BYTES or not value.isascii() or not value.isprintable():
        raise Denial(
            401, "malformed", challenge_header("session" if name != "authorization" else "jwt", "invalid_request")
        )
    return value


def bearer(authorization: str | None) -> str | None:
    header = usable("authorization", authorization)
    if header is None:
        return None
    match = _BEARER.fullmatch(header)
    if match is None:
        raise Denial(401, "malformed", challenge_header("jwt", "invalid_request"))
    return match.group(1)


def from_headers(kind: str, get: Callable[[str], str | None], names: HeaderNames) -> Credentials:
    """The credentials a check reads from request headers (`get` is case-insensitive, as frameworks' are)."""
    phone = usable(names.phone, get(names.phone))
    if kind == "jwt":
        return Credentials(bearer(get(names.authorization)))
    if kind in ("session", "revocation"):
        return Credentials(usable(names.session_token, get(names.session_token)), phone)
    if kind == "approval":
        return Credentials(usable(names.approval_token, get(names.approval_token)), phone)
    return Credentials(usable(names.challenge_token, get(names.challenge_token)))


def from_json(body: bytes, token_field: str, phone_field: str | None) -> Credentials:
    """Credentials from a JSON body, as the seed SDKs' examples read them (`req.body.session_token`)."""
    try:
        data = json.loads(body, object_pairs_hook=_unique) if body else {}
    except (ValueError, RecursionError):
        raise Denial(401, "malformed", challenge_header("session", "invalid_request")) from None
    if not isinstance(data, dict):
        raise Denial(401, "malformed", challenge_header("session", "invalid_request"))
    token, phone = data.get(token_field), data.get(phone_field) if phone_field else None
    if not isinstance(token, str | None) or not isinstance(phone, str | None):
        raise Denial(401, "malformed", challenge_header("session", "invalid_request"))
    return Credentials(usable(token_field, token), usable(phone_field or "", phone))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is refused, never resolved: the app's parser might pick the other value."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("duplicate key")
    return data


@dataclass(frozen=True, slots=True)
class Check:
    """One question to the sidecar: `call` names the client method and its arguments, `decide` reads the answer."""

    kind: str
    audience: str = ""
    scopes: tuple[str, ...] = ()
    action: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown check {self.kind!r}; one of {', '.join(KINDS)}")

    def call(self, credentials: Credentials, user_id: str = "") -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        token, phone = credentials.token, credentials.phone
        if token is None:
            if self.kind == "approval":
                raise Denial(403, "approval_required")
            if self.kind == "challenge":
                raise Denial(403, "challenge_required")
            raise Denial(401, "missing_credential", challenge_header(self.kind, None))
        if self.kind == "jwt":
            return "verify_token", (token,), {"audience": self.audience, "required_scopes": self.scopes}
        if self.kind == "challenge":
            return "validate_challenge", (token,), {"user_id": user_id, "action": self.action}
        if not phone:
            raise Denial(401, "missing_credential", challenge_header(self.kind, None))
        method = {"session": "verify_session", "revocation": "is_revoked", "approval": "verify_approval"}[self.kind]
        return method, (token,), {"phone": phone}

    def decide(self, answer: Any, credentials: Credentials) -> Identity | Approval | None:
        """The identity (jwt, session), the spent approval, or None (revocation, challenge passed); else a Denial."""
        if self.kind == "revocation":
            if answer.revoked:
                raise self.denial(answer.reason or pb.REASON_REVOKED)
            return None
        ok = answer.is_valid if self.kind == "challenge" else answer.valid
        if not ok or answer.reason != pb.REASON_UNSPECIFIED:
            raise self.denial(answer.reason)
        if self.kind == "jwt":
            auth = answer.auth
            claims = dict(auth.claims.items()) if auth.HasField("claims") else {}
            return Identity(
                "jwt", auth.subject, "", auth.issuer, tuple(auth.scopes), tuple(auth.roles), auth.session_id, claims
            )
        if self.kind == "session":
            return Identity("session", credentials.phone or "", phone=credentials.phone or "")
        if self.kind == "approval":
            if self.action and answer.action != self.action:
                # Spent by this check; one granted for another action must not open this route.
                raise self.denial(pb.REASON_ACTION_MISMATCH)
            return Approval(answer.action)
        return None  # challenge

    def denial(self, reason: int) -> Denial:
        label = pb.Reason.Name(reason).removeprefix("REASON_").lower() if reason in pb.Reason.values() else "unknown"
        if reason in (pb.REASON_UNSPECIFIED, pb.REASON_UPSTREAM_UNAVAILABLE):
            return Denial(503, "upstream_unavailable")  # "not valid" without a reason: fail closed
        if reason == pb.REASON_INSUFFICIENT_SCOPE:
            value = f'Bearer {REALM}, error="insufficient_scope", scope="{" ".join(self.scopes)}"'
            return Denial(403, label, (("www-authenticate", value),))
        if self.kind in ("approval", "challenge"):
            return Denial(403, label)
        return Denial(401, label, challenge_header(self.kind, "invalid_token"))

    def failed(self, error: grpc.RpcError) -> Denial:
        """A call that could not be answered: a bad request is the caller's 401, anything else 503."""
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return Denial(401, "malformed", challenge_header(self.kind, "invalid_request"))
        return Denial(503, "sidecar_unavailable")


async def ask(client: Any, check: Check, credentials: Credentials, user_id: str = "") -> Identity | Approval | None:
    """Ask through an AsyncClient (its retry rules apply: approvals and challenges are never retried)."""
    method, args, kwargs = check.call(credentials, user_id)
    try:
        answer = await getattr(client, method)(*args, **kwargs)
    except grpc.RpcError as error:
        raise check.failed(error) from None
    except Exception:  # noqa: BLE001 (a closed channel, anything unforeseen: fail closed, never a 500 or a pass)
        raise Denial(503, "sidecar_unavailable") from None
    return check.decide(answer, credentials)


def ask_sync(client: Any, check: Check, credentials: Credentials, user_id: str = "") -> Identity | Approval | None:
    """The same through a blocking Client."""
    method, args, kwargs = check.call(credentials, user_id)
    try:
        answer = getattr(client, method)(*args, **kwargs)
    except grpc.RpcError as error:
        raise check.failed(error) from None
    except Exception:  # noqa: BLE001 (same)
        raise Denial(503, "sidecar_unavailable") from None
    return check.decide(answer, credentials)


def forged(name: str, prefix: str = IDENTITY_PREFIX) -> bool:
    """An incoming header the app could mistake for ours (x_auth_subject is x-auth-subject to many servers)."""
    return name.lower().replace("_", "-").startswith(prefix)
