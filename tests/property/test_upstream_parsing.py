"""Generated SSE event data and JWKS documents: parsed without a crash, never a key or event invented.

SSE: platform.parse_event on its own, then RevocationCache.apply with what it returned (the event
stream's whole path after the bytes are framed), and raw frames through a real sidecar's stream.
JWKS: the real JwksFetcher reads generated documents over HTTP from the emulator (its
answer_status/answer_body fault), the key cache refreshes from them and the verifier answers a
token with them — a refresh that fails is "no new keys", never an exception, and a token signed by
a key that is not in the document is never valid.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import SidecarProcess, deep_merge, emulator_config, wait_until
from sidecar.config import IssuerSettings, JwksSettings
from sidecar.core.sessions.records import StreamEvent
from sidecar.core.sessions.revocation import RevocationCache
from sidecar.core.tokens.jwks_cache import usable_keys
from sidecar.core.tokens.verifier import TokenVerifier
from sidecar.upstream.jwks_fetch import JwksFetcher
from sidecar.upstream.rauth import EVENT_KINDS, parse_event

odd_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "\ud800", "\x00", "a\r\nb", "\U0001f600", "x" * 3000]))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), odd_text, st.sampled_from([10**400, -(10**400), 2**64, 1e308])
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4), max_leaves=20
)
EVENT_FIELDS = ["session_token", "approval_token", "session_id", "expires_at", "status", "phone"]
event_data = st.one_of(
    st.dictionaries(st.sampled_from(EVENT_FIELDS), values, max_size=5).map(json.dumps),
    values.map(json.dumps),
    st.integers(1, 5000).map(lambda d: "[" * d + "]" * d),
    st.text(max_size=100),
    st.sampled_from(
        [
            '{"session_token": "s", "expires_at": NaN}',
            '{"session_token": "s", "expires_at": 1e999}',
            '{"session_token": "s", "expires_at": ' + "9" * 400 + "}",
            '{"session_id": "\\ud800"}',
            "",
        ]
    ),
)
event_names = st.one_of(st.sampled_from(sorted(EVENT_KINDS)), st.text(max_size=20))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(name=event_names, data=event_data)
def test_any_event_data_parses_and_applies(name, data):
    event = parse_event(name, data)
    assert isinstance(event, StreamEvent)
    assert event.expires_at is None or math.isfinite(event.expires_at)
    event.session_id.encode("utf-8")  # a usable key: no lone surrogate survives
    cache = RevocationCache(100)
    cache.stream_opened(resume_requested=False)
    cache.apply(event)


@pytest.mark.parametrize(
    "data",
    [
        '{"session_token": "s", "expires_at": ' + "9" * 400 + "}",
        '{"session_token": "s", "expires_at": NaN}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["expires-1e400", "expires-nan", "nested-100000"],
)
def test_regression_revocation_event_still_applies(data):
    event = parse_event("session.revoked", data)
    assert event.expires_at is None
    if data.startswith("{"):
        assert event.token_hash  # the revocation is kept even though its expiry is unreadable


# --- SSE frames through a real sidecar ------------------------------------------------------------
# (before the JWKS tests: their faults replace the generated stream, and the sidecar would then hold
# the emulator's endless real one)
frames = st.lists(
    st.builds(
        lambda name, data, id_: f"event: {name}\nid: {id_}\ndata: {data}\n\n",
        event_names.map(lambda n: n.replace("\n", " ").replace("\r", " ")),
        event_data.map(lambda d: d.replace("\n", " ").replace("\r", " ")),
        st.text(max_size=5).map(lambda i: i.replace("\n", "").replace("\r", "")),
    ),
    min_size=1,
    max_size=6,
)


def _stream_answer(emulator, body: str) -> None:
    emulator.http.post(
        "/_control/faults",
        content=json.dumps(
            {
                "reset": True,
                "path_prefix": "/v2/backend/events",
                "answer_status": 200,
                "answer_body": body,
                "answer_content_type": "text/event-stream",
            }
        ),
        headers={"content-type": "application/json"},
    ).raise_for_status()


@pytest.fixture(scope="module")
def streaming(_emulator_process, tmp_path_factory):
    # Every connection gets a generated stream that ends (never the emulator's endless one), from the start.
    _stream_answer(_emulator_process, "event: heartbeat\ndata: {}\n\n")
    config = deep_merge(
        emulator_config(_emulator_process.url),
        {"platform": {"sse": {"reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.2}}},
    )
    sc = SidecarProcess(config, tmp_path_factory.mktemp("sse"))
    sc.wait_for("SERVING")
    yield sc, _emulator_process
    _emulator_process.faults(reset=True)
    sc.stop()


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(stream=frames)
def test_generated_event_frames_never_break_the_stream(streaming, stream):
    sc, emulator = streaming
    body = "".join(stream) + "event: heartbeat\ndata: {}\n\n"
    _stream_answer(emulator, body)
    before = sc.metric("authsidecar_sse_reconnects_total")
    internal = sc.metric("authsidecar_sse_disconnects_total", cause="internal")
    # Each connection reads the whole body and ends; two more reconnects mean it was read at least once.
    wait_until(
        lambda: sc.metric("authsidecar_sse_reconnects_total") >= before + 2,
        timeout=10,
        step=0.05,
        what="the sidecar to read the generated stream",
    )
    assert sc.metric("authsidecar_sse_disconnects_total", cause="internal") == internal == 0
    reply = sc.stub.IsRevoked(pb.IsRevokedRequest(session_token="unknown-token", phone="+14155552671"), timeout=10)
    assert reply.revoked  # an unknown session is revoked=true whatever the stream said
    assert "Traceback" not in sc.log_path.read_text()


@pytest.mark.parametrize("event_id", ["~ÎK÷µ", "a\x01b", "x" * 300], ids=["non-ascii", "control", "too-long"])
def test_regression_an_event_id_no_header_can_carry_does_not_break_reconnects(streaming, event_id):
    """Such an id, kept as the resume position, made every later reconnect fail (cause="internal")."""
    sc, emulator = streaming
    internal = sc.metric("authsidecar_sse_disconnects_total", cause="internal")
    _stream_answer(
        emulator,
        f'event: session.revoked\nid: {event_id}\ndata: {{"session_token": "s"}}\n\nevent: heartbeat\ndata: {{}}\n\n',
    )
    before = sc.metric("authsidecar_sse_reconnects_total")
    wait_until(
        lambda: sc.metric("authsidecar_sse_reconnects_total") >= before + 3,
        timeout=10,
        step=0.05,
        what="reconnects after the odd id",
    )
    assert sc.metric("authsidecar_sse_disconnects_total", cause="internal") == internal
    assert sc.metric("authsidecar_sse_events_total", type="bad_id") >= 1


# --- JWKS documents ----------------------------------------------------------------------------------
def _real_jwk() -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        **json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())),
        "kid": "real",
        "alg": "ES256",
        "use": "sig",
    }


JWK_FIELDS = {
    "kty": st.sampled_from(["EC", "RSA", "OKP", "oct", "", "ec"]) | values,
    "crv": st.sampled_from(["P-256", "P-384", "P-521", "Ed25519", "X25519", "secp256k1"]) | values,
    "x": st.sampled_from(["", "AA", "_" * 43, "a" * 5000]) | values,
    "y": st.sampled_from(["", "AA", "_" * 43]) | values,
    "n": st.sampled_from(["", "AQAB", "A" * 342]) | values,
    "e": st.sampled_from(["AQAB", ""]) | values,
    "d": values,
    "k": values,
    "kid": odd_text | values,
    "alg": st.sampled_from(["ES256", "RS256", "none"]) | values,
    "use": st.sampled_from(["sig", "enc"]) | values,
    "key_ops": values,
}
jwks = st.one_of(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({}, optional=JWK_FIELDS),
            st.builds(
                lambda real, changes: {**real, **changes},
                st.builds(_real_jwk),
                st.fixed_dictionaries({}, optional=JWK_FIELDS),
            ),
            values,
        ),
        max_size=4,
    ).map(lambda keys: json.dumps({"keys": keys})),
    values.map(json.dumps),
    st.integers(1, 5000).map(lambda d: '{"keys": ' + "[" * d + "]" * d + "}"),
    st.text(max_size=100),
)


@pytest.fixture(scope="module")
def jwks_client(_emulator_process):
    url = f"{_emulator_process.url}/issuers/fuzzed"
    signer = ec.generate_private_key(ec.SECP256R1())
    issuer = IssuerSettings(issuer=url, jwks_uri=f"{url}/.well-known/jwks.json", audiences=["a"])
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(timeout=5)
    jwks = JwksSettings(verified_cache_max_entries=1000)  # as `load` sizes it from the memory budget
    verifier = TokenVerifier([issuer], {url: JwksFetcher(issuer, jwks, client)}, jwks)
    token = jwt.encode(
        {"iss": url, "aud": "a", "sub": "u", "exp": int(time.time()) + 600},
        signer,
        algorithm="ES256",
        headers={"kid": "real"},
    )
    yield _emulator_process, loop, verifier, url, token
    _emulator_process.faults(reset=True)
    loop.run_until_complete(client.aclose())
    loop.close()


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(document=jwks, status=st.sampled_from([200, 200, 200, 404, 503]))
def test_any_jwks_document_is_keys_or_a_failed_fetch(jwks_client, document, status):
    emulator, loop, verifier, url, token = jwks_client
    emulator.http.post(
        "/_control/faults",
        content=json.dumps(
            {"reset": True, "path_prefix": "/issuers/fuzzed/", "answer_status": status, "answer_body": document}
        ),
        headers={"content-type": "application/json"},
    ).raise_for_status()
    cache = verifier.keys[url]
    assert loop.run_until_complete(cache.refresh()) in (True, False)
    for key in cache.all_keys():
        assert key.kid.encode("utf-8", "surrogatepass") is not None
    answer = loop.run_until_complete(verifier.verify(token, None, []))
    assert not answer.verdict.valid  # the token's key is never in a generated document
    assert all(h.name for h in loop.run_until_complete(verifier.health()))
    try:
        keys = json.loads(document).get("keys")
    except (ValueError, AttributeError, RecursionError):
        return
    if isinstance(keys, list):
        usable_keys(keys)  # on its own, too: never raises


@pytest.mark.parametrize(
    "document",
    [
        '{"keys": [{"kty": []}]}',
        '{"keys": [{"kty": {"EC": 1}, "kid": "real"}]}',
        '{"keys": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
    ids=["kty-list", "kty-object", "nested-5000"],
)
def test_regression_jwks_document_is_a_failed_fetch_and_an_unhealthy_probe(jwks_client, document):
    """An unhashable kty crashed the health probe (CheckUpstreamHealth INTERNAL) before it was skipped."""
    emulator, loop, verifier, url, token = jwks_client
    emulator.http.post(
        "/_control/faults",
        content=json.dumps(
            {"reset": True, "path_prefix": "/issuers/fuzzed/", "answer_status": 200, "answer_body": document}
        ),
        headers={"content-type": "application/json"},
    ).raise_for_status()
    assert loop.run_until_complete(verifier.keys[url].refresh()) is False
    [health] = loop.run_until_complete(verifier.health())
    assert not health.healthy
