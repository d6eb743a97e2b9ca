"""Emulated token issuers: JWKS + OIDC discovery per issuer, key rotation, and a JWT mint for tests.

Public routes (what the sidecar fetches):
  GET /issuers/{name}/.well-known/jwks.json               the issuer's public keys (Cache-Control max-age)
  GET /issuers/{name}/.well-known/openid-configuration    {"issuer", "jwks_uri"}

Control routes (tests and demos):
  POST /_control/jwks/issuers                {name, alg}              create an issuer (alg default ES256)
  POST /_control/jwks/issuers/{name}/rotate  {remove_old?}            new current key; → {kid, removed}
  POST /_control/jwks/issuers/{name}/remove  {kid}                    stop publishing a key
  POST /_control/jwks/issuers/{name}/publish {jwk}                    publish an extra raw JWK as given
  POST /_control/jwks/issuers/{name}/max-age {seconds}                Cache-Control max-age of the JWKS
  POST /_control/jwks/issuers/{name}/serve   {document, bytes?}       what the JWKS URL answers (faults):
       keys (the real JWKS) | not_json (an HTML page) | not_an_object (a JSON array) | no_keys ("keys"
       is not an array) | bad_keys (every key malformed) | huge (the real JWKS padded to `bytes`,
       default 2 MiB: over the sidecar's default max_document_bytes)
  POST /_control/jwks/issuers/{name}/mint    see `MintRequest`        → {token, kid}
  GET  /_control/jwks/issuers                                         names, issuer URLs, kids
Issuers `main` (ES256, P-256) and `rsa` (RS256, RSA 2048) exist at start.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import get_default_algorithms
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ALGS = get_default_algorithms()
DEFAULT_AUDIENCE = "authsidecar-demo"
CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
# Group orders n (SEC 2 v2 §2.4.2, §2.5.1, §2.6.1), for the r = n tamper: the emulator's own copy,
# so a test never checks the sidecar's constants against themselves.
CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF"
        "2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_private_key(alg: str) -> Any:
    if alg in CURVES:
        return ec.generate_private_key(CURVES[alg]())
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported alg {alg}")


@dataclass
class SigningKeyPair:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict:
        jwk = ALGS[self.alg].to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


@dataclass
class Issuer:
    name: str
    alg: str
    keys: list[SigningKeyPair] = field(default_factory=list)  # published, the last is current
    extra_jwks: list[dict] = field(default_factory=list)  # raw JWKs published as given
    max_age: int = 300
    document: str = "keys"  # see SERVED_DOCUMENTS
    huge_bytes: int = 2 * 1024 * 1024

    def add_key(self) -> SigningKeyPair:
        pair = SigningKeyPair(f"{self.name}-{uuid.uuid4().hex[:8]}", self.alg, new_private_key(self.alg))
        self.keys.append(pair)
        return pair

    @property
    def current(self) -> SigningKeyPair:
        return self.keys[-1]

    def key(self, kid: str) -> SigningKeyPair | None:
        return next((k for k in self.keys if k.kid == kid), None)


SERVED_DOCUMENTS = {"keys", "not_json", "not_an_object", "no_keys", "bad_keys", "huge"}
# Keys no verifier can use: bad base64, wrong member types, unknown kty, not an object, a symmetric key.
BAD_KEYS = [
    {"kty": "EC", "crv": "P-256", "kid": "bad-ec", "x": "!!not base64!!", "y": "??"},
    {"kty": "RSA", "kid": "bad-rsa", "n": 12345, "e": None},
    {"kty": "EC", "crv": "P-999", "kid": "bad-curve", "x": "AAAA", "y": "AAAA"},
    {"kty": "XYZ", "kid": "bad-kty"},
    {"kty": "oct", "kid": "bad-oct", "k": "c2VjcmV0"},
    "not a key",
    None,
]


def served_document(issuer: Issuer, keys: list[dict]) -> Response:
    """The JWKS URL's answer for the issuer's current `document` mode (a 200 in every mode)."""
    headers = {"Cache-Control": f"public, max-age={issuer.max_age}"}
    if issuer.document == "not_json":
        return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html", headers=headers)
    if issuer.document == "not_an_object":
        return JSONResponse(keys, headers=headers)
    if issuer.document == "no_keys":
        return JSONResponse({"keys": {"oops": "not an array"}}, headers=headers)
    if issuer.document == "bad_keys":
        return JSONResponse({"keys": BAD_KEYS}, headers=headers)
    if issuer.document == "huge":
        return JSONResponse({"keys": keys, "padding": "x" * issuer.huge_bytes}, headers=headers)
    return JSONResponse({"keys": keys}, headers=headers)


def _area(state) -> dict[str, Issuer]:
    issuers: dict[str, Issuer] | None = state.areas.get("jwks")
    if issuers is None:
        issuers = {}
        state.areas["jwks"] = issuers
        for name, alg in (("main", "ES256"), ("rsa", "RS256")):
            issuers[name] = Issuer(name, alg)
            issuers[name].add_key()
    return issuers


def issuer_url(state, name: str) -> str:
    return f"{state.base_url}/issuers/{name}"


def routes(state) -> list[Route]:
    issuers = _area(state)

    def find(request: Request) -> Issuer | JSONResponse:
        issuer = issuers.get(request.path_params["name"])
        return issuer if issuer is not None else JSONResponse({"error": "no such issuer"}, status_code=404)

    async def jwks(request: Request) -> Response:
        issuer = find(request)
        if isinstance(issuer, JSONResponse):
            return issuer
        return served_document(issuer, [k.public_jwk() for k in issuer.keys] + issuer.extra_jwks)

    async def discovery(request: Request) -> JSONResponse:
        issuer = find(request)
        if isinstance(issuer, JSONResponse):
            return issuer
        url = issuer_url(state, issuer.name)
        return JSONResponse(
            {
                "issuer": url,
                "jwks_uri": f"{url}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": [issuer.alg],
            }
        )

    async def control(request: Request) -> Response:
        body = await request.json() if request.method == "POST" else {}
        try:
            # ASCII-escaped: minted claims may hold lone surrogates ("\ud800"), which UTF-8 can't encode.
            answer = _control(
                state, issuers, request.path_params.get("action", ""), request.path_params.get("name", ""), body
            )
            return Response(json.dumps(answer), media_type="application/json")
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return [
        Route("/issuers/{name}/.well-known/jwks.json", jwks),
        Route("/issuers/{name}/.well-known/openid-configuration", discovery),
        Route("/_control/jwks/issuers", control, methods=["GET", "POST"]),
        Route("/_control/jwks/issuers/{name}/{action}", control, methods=["POST"]),
    ]


def _control(state, issuers: dict[str, Issuer], action: str, name: str, body: dict) -> dict:
    if not name:
        if body.get("name"):
            new = Issuer(str(body["name"]), str(body.get("alg", "ES256")))
            new.add_key()
            issuers[new.name] = new
        return {
            n: {"issuer": issuer_url(state, n), "alg": i.alg, "kids": [k.kid for k in i.keys]}
            for n, i in issuers.items()
        }
    issuer = issuers.get(name)
    if issuer is None:
        raise LookupError(f"no issuer {name}")
    if action == "rotate":
        old = issuer.current.kid
        added = issuer.add_key()
        if body.get("remove_old"):
            issuer.keys = [k for k in issuer.keys if k.kid != old]
        return {"kid": added.kid, "previous": old, "removed": bool(body.get("remove_old"))}
    if action == "remove":
        kid = str(body["kid"])
        issuer.keys = [k for k in issuer.keys if k.kid != kid]
        issuer.extra_jwks = [j for j in issuer.extra_jwks if j.get("kid") != kid]
        return {"kids": [k.kid for k in issuer.keys]}
    if action == "publish":
        issuer.extra_jwks.append(dict(body["jwk"]))
        return {"published": len(issuer.extra_jwks)}
    if action == "max-age":
        issuer.max_age = int(body["seconds"])
        return {"max_age": issuer.max_age}
    if action == "serve":
        document = str(body.get("document", "keys"))
        if document not in SERVED_DOCUMENTS:
            raise ValueError(f"document must be one of {sorted(SERVED_DOCUMENTS)}")
        issuer.document = document
        issuer.huge_bytes = int(body.get("bytes", issuer.huge_bytes))
        return {"document": issuer.document, "bytes": issuer.huge_bytes}
    if action == "mint":
        return mint(issuer_url(state, name), issuer, MintRequest.from_body(body))
    raise KeyError(f"unknown action {action}")


@dataclass
class MintRequest:
    """What to mint. Hostile options exist so tests can prove the sidecar rejects them."""

    claims: dict  # merged over defaults (iss, sub, aud, iat, exp); a null value drops a claim
    kid: str | None = None  # header kid (default: the signer's); "" drops the kid
    alg: str | None = None  # header alg (default: the issuer's); "none" → unsigned; HS256 → public key as secret
    headers: dict = field(default_factory=dict)  # extra header members (jku, x5u, crit, jwk…); null drops one
    signer: str = ""  # kid of a published key, "unpublished" (fresh key), or "" for the current key
    jwk: dict | None = None  # sign with this private JWK instead (e.g. the private half of a published extra key)
    tamper: str = ""  # der | zero | r_is_n | truncate | payload

    @classmethod
    def from_body(cls, body: dict) -> MintRequest:
        known = {k: body[k] for k in ("claims", "kid", "alg", "headers", "signer", "jwk", "tamper") if k in body}
        known.setdefault("claims", {})
        return cls(**known)


def _signer(issuer: Issuer, req: MintRequest) -> tuple[str, Any, str]:
    """(kid, private key, signing alg)."""
    if req.jwk is not None:
        pyjwk = jwt.PyJWK(req.jwk)
        return str(req.jwk.get("kid", "")), pyjwk.key, pyjwk.algorithm_name
    if req.signer == "unpublished":
        return issuer.current.kid, new_private_key(issuer.alg), issuer.alg
    pair = issuer.key(req.signer) if req.signer else issuer.current
    if pair is None:
        raise LookupError(f"no key {req.signer}")
    return pair.kid, pair.private, pair.alg


def mint(iss_url: str, issuer: Issuer, req: MintRequest) -> dict:
    now = int(time.time())
    claims = {"iss": iss_url, "sub": "user-1", "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 300, **req.claims}
    claims = {k: v for k, v in claims.items() if v is not None}
    kid, private, sign_alg = _signer(issuer, req)
    alg = req.alg or sign_alg
    header = {"alg": alg, "typ": "JWT", "kid": kid if req.kid is None else req.kid, **req.headers}
    header = {k: v for k, v in header.items() if v is not None and not (k == "kid" and v == "")}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if alg == "none":
        signature = b""
    elif alg.startswith("HS"):
        # The classic confusion attack: the public key's PEM used as an HMAC secret.
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signature = ALGS[alg].sign(signing_input.encode(), pem)
    else:
        signature = ALGS[sign_alg].sign(signing_input.encode(), private)
    signature = _tamper(req.tamper, signature, private, signing_input)
    token = f"{signing_input}.{_b64(signature)}"
    if req.tamper == "payload":
        head, _, rest = token.partition(".")
        body, _, sig = rest.partition(".")
        claims["sub"] = "someone-else"
        token = f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    return {"token": token, "kid": header.get("kid", ""), "claims": claims}


def _tamper(how: str, signature: bytes, private: Any, signing_input: str) -> bytes:
    if how in ("", "payload"):
        return signature
    if how == "truncate":
        return signature[:-1]
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError(f"tamper {how} needs an EC key")
    size = (private.curve.key_size + 7) // 8
    if how == "der":
        # The same valid signature, DER-encoded instead of raw r||s (what some libraries emit).
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        return encode_dss_signature(r, s)
    if how == "zero":
        return bytes(2 * size)  # r = s = 0: the "psychic signature" (CVE-2022-21449)
    if how == "r_is_n":
        n = CURVE_ORDERS[private.curve.name]
        return n.to_bytes(size, "big") + signature[size:]
    raise ValueError(f"unknown tamper {how}")
