"""Verify v2 TOTP and push: Entities/{Identity}/Factors, Challenges, and AccessTokens, from the SDKs'
lib/rest/verify/v2/service/entity/{newFactor,factor,challenge}.js and service/accessToken.js (python:
entity/new_factor.py, entity/factor.py, entity/challenge/__init__.py, access_token.py) and the spec.

- An entity is made by its first factor; Identity is 8-64 of [A-Za-z0-9._-] (the spec: "not PII, length
  between 8 and 64 characters").
- A TOTP factor's `binding` ({secret, uri}) is answered once, on create; it becomes verified when
  AuthPayload carries a right RFC 6238 code. A push factor (Binding.Alg ES256, Binding.PublicKey,
  Config.*) is verified through the control API: the emulator holds no device key.
- A challenge needs a verified factor. TOTP: AuthPayload right → approved, wrong or none → pending (not
  an error; the spec's createTotpWithoutAuthPayload), then POST Challenges/{Sid} with AuthPayload. A TOTP
  code is good once per factor (a later code step only), unless the global fault `one_time_enforced` is
  false. Push: Details.Message (≤256), Details.Fields (JSON {label ≤36, value ≤128}, the key repeated),
  HiddenDetails (JSON object of strings, ≤1024), ExpirationDate (≤1 h, default 5 min); answered through
  the control API; pending past its expiration reads `expired`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .credentials import TWILIO_ACCOUNT_SID, TWILIO_VERIFY_SERVICE_SID
from .twilio_verify_wire import (
    TOTP_ALGORITHMS,
    b32_secret,
    form,
    integer,
    invalid,
    iso,
    not_found,
    parse_iso,
    sid,
    text,
    totp_counter,
)

IDENTITY = re.compile(r"[A-Za-z0-9._-]{8,64}")
ISSUER = "Emulated Verify"  # the service's friendly name, the TOTP issuer (spec: service totp.issuer)
CHALLENGE_DEFAULT_SECONDS = 300
CHALLENGE_MAX_SECONDS = 3600
MAX_FIELDS = 20
FACTOR_CONFIG = {"Config.TimeStep", "Config.Skew", "Config.CodeLength", "Config.Alg"}
PUSH_CONFIG = {"Config.NotificationPlatform", "Config.NotificationToken", "Config.SdkVersion"}
NEW_FACTOR_KEYS = {
    "FriendlyName", "FactorType", "Binding.Alg", "Binding.PublicKey", "Binding.Secret", "Config.AppId",
    "Metadata", *FACTOR_CONFIG, *PUSH_CONFIG,
}  # fmt: skip
UPDATE_FACTOR_KEYS = {"AuthPayload", "FriendlyName", *FACTOR_CONFIG, *PUSH_CONFIG}
CHALLENGE_KEYS = {"FactorSid", "ExpirationDate", "Details.Message", "Details.Fields", "HiddenDetails", "AuthPayload"}
ACCESS_TOKEN_KEYS = {"Identity", "FactorType", "FactorFriendlyName", "Ttl"}


@dataclass
class Factor:
    sid: str
    identity: str
    entity_sid: str
    factor_type: str
    friendly_name: str
    config: dict
    binding: dict
    metadata: dict | None = None
    secret: bytes = b""
    status: str = "unverified"
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    last_counter: int = -1  # the last TOTP step accepted: a code is good once

    def accept(self, code: str, one_time: bool) -> bool:
        c = self.config
        if not code.isdigit() or len(code) != c["code_length"]:
            return False
        counter = totp_counter(self.secret, code, c["time_step"], c["skew"], c["code_length"], c["alg"])
        if counter < 0 or (one_time and counter <= self.last_counter):
            return False
        self.last_counter = max(self.last_counter, counter)
        return True


@dataclass
class Challenge:
    sid: str
    factor: Factor
    expires: float
    details: dict
    hidden_details: dict | None
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    responded: float | None = None
    status: str = "pending"

    def current_status(self) -> str:
        if self.status == "pending" and time.time() >= self.expires:
            return "expired"
        return self.status

    def answer(self, status: str) -> None:
        self.status, self.responded = status, time.time()
        self.updated = self.responded


def _json_strings(name: str, raw: str | None, max_len: int) -> dict | None:
    """A stringified JSON object of string values (HiddenDetails, Metadata); duplicate keys refused."""
    if raw is None:
        return None
    if len(raw) > max_len:
        raise invalid(name, f"at most {max_len} characters")
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise invalid(name, "must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(name, "must be a JSON object of string values")
    return value


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _fields(raw: list[str]) -> list[dict]:
    if len(raw) > MAX_FIELDS:
        raise invalid("Details.Fields", f"at most {MAX_FIELDS} fields")
    fields = []
    for item in raw:
        value = _json_strings("Details.Fields", item, 512)
        assert value is not None
        if set(value) != {"label", "value"} or len(value["label"]) > 36 or len(value["value"]) > 128:
            raise invalid("Details.Fields", "each a JSON {label (≤36), value (≤128)}")
        fields.append(value)
    return fields


def routes(area, state, base: str, guarded: Callable) -> list[Route]:
    api = FactorsApi(area, state)
    e = f"{base}/Entities/{{identity}}"
    return [
        Route(f"{e}/Factors", guarded(api.create_factor), methods=["POST"]),
        Route(f"{e}/Factors/{{sid}}", guarded(api.fetch_factor), methods=["GET"]),
        Route(f"{e}/Factors/{{sid}}", guarded(api.update_factor), methods=["POST"]),
        Route(f"{e}/Factors/{{sid}}", guarded(api.delete_factor), methods=["DELETE"]),
        Route(f"{e}/Challenges", guarded(api.create_challenge), methods=["POST"]),
        Route(f"{e}/Challenges/{{sid}}", guarded(api.fetch_challenge), methods=["GET"]),
        Route(f"{e}/Challenges/{{sid}}", guarded(api.update_challenge), methods=["POST"]),
        Route(f"{base}/AccessTokens", guarded(api.create_access_token), methods=["POST"]),
        Route(f"{base}/AccessTokens/{{sid}}", guarded(api.fetch_access_token), methods=["GET"]),
    ]


class FactorsApi:
    def __init__(self, area, state) -> None:
        self.area = area
        self.state = state

    def url(self, path: str) -> str:
        return f"{self.state.base_url}/twilio-verify/v2/Services/{TWILIO_VERIFY_SERVICE_SID}{path}"

    @staticmethod
    def identity(request: Request) -> str:
        identity = request.path_params["identity"]
        if not IDENTITY.fullmatch(identity):
            raise invalid("Identity", "8 to 64 of A-Z a-z 0-9 . _ -")
        return identity

    def factor_body(self, f: Factor, with_binding: bool = False) -> dict:
        body = {
            "sid": f.sid,
            "account_sid": TWILIO_ACCOUNT_SID,
            "service_sid": TWILIO_VERIFY_SERVICE_SID,
            "entity_sid": f.entity_sid,
            "identity": f.identity,
            "date_created": iso(f.created),
            "date_updated": iso(f.updated or f.created),
            "friendly_name": f.friendly_name,
            "status": f.status,
            "factor_type": f.factor_type,
            "config": f.config,
            "metadata": f.metadata,
            "url": self.url(f"/Entities/{f.identity}/Factors/{f.sid}"),
        }
        if with_binding:
            body |= {"binding": f.binding, "options": None}
        return body

    def challenge_body(self, c: Challenge) -> dict:
        path = f"/Entities/{c.factor.identity}/Challenges/{c.sid}"
        return {
            "sid": c.sid,
            "account_sid": TWILIO_ACCOUNT_SID,
            "service_sid": TWILIO_VERIFY_SERVICE_SID,
            "entity_sid": c.factor.entity_sid,
            "identity": c.factor.identity,
            "factor_sid": c.factor.sid,
            "date_created": iso(c.created),
            "date_updated": iso(c.updated or c.created),
            "date_responded": iso(c.responded),
            "expiration_date": iso(c.expires),
            "status": c.current_status(),
            "responded_reason": "none",
            "details": c.details,
            "hidden_details": c.hidden_details,
            "metadata": None,
            "factor_type": c.factor.factor_type,
            "url": self.url(path),
            "links": {"notifications": self.url(path + "/Notifications")},
        }

    def _factor(self, request: Request, factor_sid: str | None = None) -> Factor:
        identity = self.identity(request)
        f = self.area.factors.get(factor_sid or request.path_params["sid"])
        if f is None or f.identity != identity:
            raise not_found(request.url.path.removeprefix("/twilio-verify/v2"))
        return f

    async def create_factor(self, request: Request) -> Response:
        identity = self.identity(request)
        values = await form(request, NEW_FACTOR_KEYS)
        name = text(values, "FriendlyName", required=True, min_len=1, max_len=64)
        kind = text(values, "FactorType", required=True, max_len=16)
        metadata = _json_strings("Metadata", text(values, "Metadata", max_len=4096), 1024)
        if kind == "totp":
            if values.keys() & ({"Binding.Alg", "Binding.PublicKey", "Config.AppId"} | PUSH_CONFIG):
                raise invalid("FactorType", "push fields given for a totp factor")
            config, secret, binding = self._totp_config(values, name or "")
        elif kind == "push":
            if values.keys() & ({"Binding.Secret"} | FACTOR_CONFIG):
                raise invalid("FactorType", "totp fields given for a push factor")
            config, secret, binding = self._push_config(values), b"", {}
            binding = {"alg": values["Binding.Alg"], "public_key": values["Binding.PublicKey"]}
        else:
            raise invalid("FactorType", "must be totp or push (passkeys are not emulated)")
        entity = self.area.entities.setdefault(identity, {"sid": sid("YE"), "created": time.time()})
        f = Factor(sid("YF"), identity, entity["sid"], kind, name or "", config, binding, metadata, secret)
        self.area.factors[f.sid] = f
        return JSONResponse(self.factor_body(f, with_binding=True), status_code=201)

    @staticmethod
    def _totp_config(values: dict, name: str) -> tuple[dict, bytes, dict]:
        alg = values.get("Config.Alg", "sha1")
        if alg not in TOTP_ALGORITHMS:
            raise invalid("Config.Alg", "sha1, sha256 or sha512")
        config = {
            "alg": alg,
            "skew": integer(values, "Config.Skew", 0, 2, 1),
            "code_length": integer(values, "Config.CodeLength", 3, 8, 6),
            "time_step": integer(values, "Config.TimeStep", 20, 60, 30),
        }
        given = text(values, "Binding.Secret", max_len=128)
        secret = b32_secret(given) if given is not None else secrets.token_bytes(20)
        if secret is None:
            raise invalid("Binding.Secret", "base32, at least 80 bits")
        b32 = base64.b32encode(secret).decode().rstrip("=")
        uri = (
            f"otpauth://totp/{quote(ISSUER)}:{quote(name)}?secret={b32}&issuer={quote(ISSUER)}"
            f"&algorithm={alg.upper()}&digits={config['code_length']}&period={config['time_step']}"
        )
        return config, secret, {"secret": b32, "uri": uri}

    @staticmethod
    def _push_config(values: dict) -> dict:
        if text(values, "Binding.Alg", required=True, max_len=16) != "ES256":
            raise invalid("Binding.Alg", "must be ES256")
        key = text(values, "Binding.PublicKey", required=True, min_len=1, max_len=1024) or ""
        try:
            base64.b64decode(key, validate=True)
        except ValueError:
            raise invalid("Binding.PublicKey", "base64 of a DER public key") from None
        platform = text(values, "Config.NotificationPlatform", required=True, max_len=8)
        if platform not in ("apn", "fcm", "none"):
            raise invalid("Config.NotificationPlatform", "apn, fcm or none")
        token = text(values, "Config.NotificationToken", max_len=255)
        if platform != "none" and (token is None or len(token) < 32):
            raise invalid("Config.NotificationToken", "32 to 255 characters")
        return {
            "sdk_version": text(values, "Config.SdkVersion", required=True, min_len=1, max_len=32),
            "app_id": text(values, "Config.AppId", required=True, min_len=1, max_len=100),
            "notification_platform": platform,
            "notification_token": token,
        }

    async def fetch_factor(self, request: Request) -> Response:
        return JSONResponse(self.factor_body(self._factor(request)))

    async def update_factor(self, request: Request) -> Response:
        f = self._factor(request)
        values = await form(request, UPDATE_FACTOR_KEYS)
        name = text(values, "FriendlyName", min_len=1, max_len=64)
        payload = text(values, "AuthPayload", max_len=5456)
        if f.factor_type == "push" and (payload is not None or values.keys() & FACTOR_CONFIG):
            raise invalid("AuthPayload", "push factors are verified through the emulator's control API")
        if f.factor_type == "totp" and values.keys() & PUSH_CONFIG:
            raise invalid("FactorType", "push fields given for a totp factor")
        if name is not None:
            f.friendly_name = name
        if payload is not None and f.status == "unverified" and f.accept(payload, self.state.faults.one_time_enforced):
            f.status = "verified"
        f.updated = time.time()
        return JSONResponse(self.factor_body(f))

    async def delete_factor(self, request: Request) -> Response:
        f = self._factor(request)
        del self.area.factors[f.sid]
        return Response(status_code=204)

    async def create_challenge(self, request: Request) -> Response:
        self.identity(request)
        values = await form(request, CHALLENGE_KEYS, lists=frozenset({"Details.Fields"}))
        factor_sid = text(values, "FactorSid", required=True, max_len=34)
        f = self._factor(request, factor_sid)
        if f.status != "verified":
            raise invalid("FactorSid", "the factor is not verified")
        now = time.time()
        expiration = text(values, "ExpirationDate", max_len=64)
        expires = now + CHALLENGE_DEFAULT_SECONDS if expiration is None else parse_iso("ExpirationDate", expiration)
        if not now < expires <= now + CHALLENGE_MAX_SECONDS:
            raise invalid("ExpirationDate", "in the future, at most 60 minutes after now")
        message = text(values, "Details.Message", min_len=1, max_len=256)
        listed = values.get("Details.Fields", [])
        fields = _fields(listed if isinstance(listed, list) else [listed])
        hidden = _json_strings("HiddenDetails", text(values, "HiddenDetails", max_len=4096), 1024)
        payload = text(values, "AuthPayload", min_len=3, max_len=8)
        if f.factor_type == "push" and (message is None or payload is not None):
            raise invalid("Details.Message", "a push challenge needs Details.Message and takes no AuthPayload")
        details = {"message": message, "date": iso(now), "fields": fields}
        c = Challenge(sid("YC"), f, expires, details, hidden, created=now)
        if payload is not None and f.accept(payload, self.state.faults.one_time_enforced):
            c.answer("approved")
        self.area.challenges[c.sid] = c
        self.area.last_challenge = c.sid
        return JSONResponse(self.challenge_body(c), status_code=201)

    def _challenge(self, request: Request) -> Challenge:
        identity = self.identity(request)
        c = self.area.challenges.get(request.path_params["sid"])
        if c is None or c.factor.identity != identity:
            raise not_found(request.url.path.removeprefix("/twilio-verify/v2"))
        return c

    async def fetch_challenge(self, request: Request) -> Response:
        return JSONResponse(self.challenge_body(self._challenge(request)))

    async def update_challenge(self, request: Request) -> Response:
        c = self._challenge(request)
        values = await form(request, {"AuthPayload", "Metadata"})
        payload = text(values, "AuthPayload", required=True, min_len=3, max_len=8)
        _json_strings("Metadata", text(values, "Metadata", max_len=4096), 1024)
        if c.factor.factor_type != "totp":
            raise invalid("AuthPayload", "push challenges are answered through the emulator's control API")
        if c.current_status() != "pending":
            raise invalid("AuthPayload", f"the challenge is {c.current_status()}")
        if c.factor.accept(payload or "", self.state.faults.one_time_enforced):
            c.answer("approved")
        return JSONResponse(self.challenge_body(c))

    async def create_access_token(self, request: Request) -> Response:
        values = await form(request, ACCESS_TOKEN_KEYS)
        identity = text(values, "Identity", required=True, max_len=64) or ""
        if not IDENTITY.fullmatch(identity):
            raise invalid("Identity", "8 to 64 of A-Z a-z 0-9 . _ -")
        if text(values, "FactorType", required=True, max_len=16) != "push":
            raise invalid("FactorType", "must be push")
        ttl = integer(values, "Ttl", 60, 300, 60)
        token_sid = sid("YK")
        token = {
            "sid": token_sid,
            "account_sid": TWILIO_ACCOUNT_SID,
            "service_sid": TWILIO_VERIFY_SERVICE_SID,
            "entity_identity": identity,
            "factor_type": "push",
            "factor_friendly_name": text(values, "FactorFriendlyName", max_len=64),
            "token": _opaque_token(identity, ttl),
            "url": self.url(f"/AccessTokens/{token_sid}"),
            "ttl": ttl,
            "date_created": iso(time.time()),
        }
        self.area.access_tokens[token_sid] = token
        return JSONResponse(token, status_code=201)

    async def fetch_access_token(self, request: Request) -> Response:
        token = self.area.access_tokens.get(request.path_params["sid"])
        if token is None:
            raise not_found(request.url.path.removeprefix("/twilio-verify/v2"))
        return JSONResponse(token)


def _opaque_token(identity: str, ttl: int) -> str:
    """Stands in for Twilio's encrypted enrollment JWT (spec: "an encrypted json web token"): opaque to the
    backend, handed to the device's push SDK as is."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"alg": "dir", "enc": "A256GCM", "cty": "twilio-fpa;v=1"})
    nonce = secrets.token_urlsafe(12)
    body = part({"sub": identity, "exp": int(time.time()) + ttl})
    return f"{header}..{nonce}.{body}.{secrets.token_urlsafe(16)}"
