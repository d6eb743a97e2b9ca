# ruff: noqa: B008  (Depends(...) in defaults is FastAPI's own dependency idiom)
"""The client's middleware in real apps against a real sidecar process and the emulator: a FastAPI app
under uvicorn (real HTTP) and a Flask app (its test client, the blocking Client over gRPC).

The seed README flows (rauth-provider: login with verifySession, a transfer with verifyApproval, a
protected route with isSessionRevoked; @inai-dev/backend: a bearer JWT) run through the dependencies;
denials carry the ext_authz statuses and WWW-Authenticate; forged identity headers never reach the
app; a sidecar that does not answer is a 503, never a pass.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import flask
import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request

from authsidecar_client import Client
from authsidecar_client.checks import Approval, Identity
from authsidecar_client.flask import FlaskAuth, WsgiMiddleware
from authsidecar_client.starlette import AuthMiddleware, SidecarAuth, json_body
from harness.processes import free_port, wait_until

pytestmark = pytest.mark.xdist_group("python_middleware")
PHONE = "+14155552671"


def mint(emulator, **claims) -> str:
    reply = emulator.http.post("/_control/jwks/issuers/main/mint", json={"claims": claims})
    reply.raise_for_status()
    return reply.json()["token"]


def control(emulator, path: str, **body) -> dict:
    reply = emulator.http.post(f"/_control/platform/{path}", json=body)
    reply.raise_for_status()
    return reply.json()


def session(emulator) -> str:
    return control(emulator, "sessions", phone=PHONE)["session_token"]


def fastapi_app(auth: SidecarAuth, middleware: bool) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await auth.aclose()

    app = FastAPI(lifespan=lifespan)
    if middleware:
        app.add_middleware(AuthMiddleware, auth=auth, check="jwt", exclude=("/open",))

    @app.get("/open")
    async def open_route(request: Request):
        return {"forged": request.headers.get("x-auth-subject")}

    @app.get("/me")
    async def me(request: Request, who: Identity = Depends(auth.jwt())):
        return {"subject": who.subject, "header": request.headers.get("x-auth-subject"), "roles": list(who.roles)}

    @app.get("/orders")
    async def orders(who: Identity = Depends(auth.jwt(scopes=["orders:read"]))):
        return {"subject": who.subject}

    @app.post("/auth/login")  # rauth-provider README 1): exchange a verified session (JSON body)
    async def login(who: Identity = Depends(auth.session(json_body("session_token", "phone")))):
        return {"phone": who.phone}

    @app.post("/actions/transfer")  # README 2): a sensitive action needs a one-time approval
    async def transfer(
        who: Identity = Depends(auth.session()), approval: Approval = Depends(auth.approval(action="transfer"))
    ):
        return {"phone": who.phone, "action": approval.action}

    @app.get("/secure", dependencies=[Depends(auth.revocation())])  # README 3): revocation check
    async def secure():
        return {"ok": True}

    @app.post("/step-up", dependencies=[Depends(auth.jwt()), Depends(auth.challenge(action="withdraw"))])
    async def step_up(request: Request):
        return {"subject": request.state.authsidecar.subject}

    return app


@contextlib.contextmanager
def serve(app) -> Iterator[httpx.Client]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="uvicorn to start")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def api(shared_sidecar) -> Iterator[httpx.Client]:
    with serve(fastapi_app(SidecarAuth(target=shared_sidecar.target, timeout=5), middleware=False)) as http:
        yield http


@pytest.fixture(scope="module")
def guarded(shared_sidecar) -> Iterator[httpx.Client]:
    with serve(fastapi_app(SidecarAuth(target=shared_sidecar.target, timeout=5), middleware=True)) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_fastapi_jwt_dependency_allows_and_denies_as_ext_authz(api, emulator):
    ok = api.get("/me", headers=bearer(mint(emulator, sub="user-7", roles=["admin"])))
    assert ok.status_code == 200 and ok.json()["subject"] == "user-7" and ok.json()["roles"] == ["admin"]

    missing = api.get("/me")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="authsidecar"'
    bad = api.get("/me", headers=bearer("not.a.jwt"))
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == 'Bearer realm="authsidecar", error="invalid_token"'
    assert bad.json()["detail"] == "malformed"
    not_bearer = api.get("/me", headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert not_bearer.status_code == 401 and 'error="invalid_request"' in not_bearer.headers["www-authenticate"]
    huge = api.get("/me", headers=bearer("a" * 20_000))
    assert huge.status_code == 401 and 'error="invalid_request"' in huge.headers["www-authenticate"]

    scoped = api.get("/orders", headers=bearer(mint(emulator, scope="profile")))
    assert scoped.status_code == 403
    assert scoped.headers["www-authenticate"] == (
        'Bearer realm="authsidecar", error="insufficient_scope", scope="orders:read"'
    )
    assert api.get("/orders", headers=bearer(mint(emulator, scope="orders:read"))).status_code == 200


def test_fastapi_seed_flows_login_transfer_once_and_revocation(api, emulator):
    token = session(emulator)
    login = api.post("/auth/login", json={"session_token": token, "phone": PHONE})
    assert login.status_code == 200 and login.json() == {"phone": PHONE}
    assert api.post("/auth/login", json={"session_token": "nope", "phone": PHONE}).status_code == 401
    assert api.post("/auth/login", json={"session_token": 5, "phone": PHONE}).status_code == 401
    assert api.post("/auth/login", content=b"[" * 100_000).status_code == 413

    approval = control(emulator, "approvals", phone=PHONE, action="transfer", session_token=token)["approval_token"]
    headers = {"x-session-token": token, "x-user-phone": PHONE, "x-approval-token": approval}
    first = api.post("/actions/transfer", headers=headers)
    assert first.status_code == 200 and first.json() == {"phone": PHONE, "action": "transfer"}
    replay = api.post("/actions/transfer", headers=headers)  # one-time: answered once
    assert replay.status_code == 403 and replay.json()["detail"] == "already_used"
    no_approval = api.post("/actions/transfer", headers={"x-session-token": token, "x-user-phone": PHONE})
    assert no_approval.status_code == 403 and no_approval.json()["detail"] == "approval_required"
    other = control(emulator, "approvals", phone=PHONE, action="pay", session_token=token)["approval_token"]
    mismatch = api.post("/actions/transfer", headers={**headers, "x-approval-token": other})
    assert mismatch.status_code == 403 and mismatch.json()["detail"] == "action_mismatch"

    secure = {"x-session-token": token, "x-user-phone": PHONE}
    assert api.get("/secure", headers=secure).status_code == 200
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: api.get("/secure", headers=secure).status_code == 401, timeout=15, what="the revocation")
    revoked = api.get("/secure", headers=secure)
    assert revoked.json()["detail"] == "revoked"
    assert revoked.headers["www-authenticate"] == 'Session realm="authsidecar", error="invalid_token"'


def test_fastapi_step_up_challenge_is_bound_to_the_jwt_subject_and_spent_once(api, emulator, shared_sidecar):
    user = f"usr_{uuid.uuid4().hex[:12]}"
    emulator.http.post("/_control/challenges/users", json={"userId": user, "phoneNumber": "+64271234567"})

    def challenge() -> str:
        with Client(shared_sidecar.target, timeout=5) as client:
            key = client.track(user, "withdraw").idempotency_key
        reply = emulator.http.post(
            "/_control/challenges/complete",
            json={"userId": user, "action": "withdraw", "idempotencyKey": key, "success": True},
        )
        reply.raise_for_status()
        return reply.json()["token"]

    someone_else = {**bearer(mint(emulator, sub="user-other")), "x-challenge-token": challenge()}
    assert api.post("/step-up", headers=someone_else).status_code == 403
    headers = {**bearer(mint(emulator, sub=user)), "x-challenge-token": challenge()}
    first = api.post("/step-up", headers=headers)
    assert first.status_code == 200 and first.json() == {"subject": user}
    replay = api.post("/step-up", headers=headers)
    assert replay.status_code == 403 and replay.json()["detail"] == "already_used"
    assert api.post("/step-up", headers=bearer(mint(emulator, sub=user))).status_code == 403  # no challenge


def test_starlette_middleware_strips_forged_identity_headers(guarded, emulator):
    forged = {"x-auth-subject": "admin", "x_auth_subject": "admin", "X-Auth-Phone": "+15550000000"}
    assert guarded.get("/open", headers=forged).json() == {"forged": None}
    answer = guarded.get("/me", headers={**forged, **bearer(mint(emulator, sub="user-9"))})
    assert answer.status_code == 200 and answer.json()["subject"] == "user-9" and answer.json()["header"] == "user-9"
    denied = guarded.get("/me", headers=forged)
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == 'Bearer realm="authsidecar"'
    assert denied.json() == {"error": "missing_credential"}


def test_fastapi_sidecar_down_is_503_fail_closed():
    nobody = f"127.0.0.1:{free_port()}"
    with serve(fastapi_app(SidecarAuth(target=nobody, timeout=1), middleware=True)) as http:
        assert http.get("/me", headers=bearer("a.b.c")).status_code == 503  # the middleware
    with serve(fastapi_app(SidecarAuth(target=nobody, timeout=1), middleware=False)) as http:
        assert http.get("/me", headers=bearer("a.b.c")).status_code == 503  # the dependency
        answer = http.post("/actions/transfer", headers={"x-session-token": "s", "x-user-phone": PHONE})
        assert answer.status_code == 503


# --- Flask ----------------------------------------------------------------------------------------


def flask_app(client: Client) -> flask.Flask:
    app = flask.Flask("middleware-test")
    auth = FlaskAuth(client)

    @app.get("/me")
    @auth.jwt()
    def me():
        return {"subject": flask.g.authsidecar.subject, "forged": flask.request.headers.get("x-auth-subject")}

    @app.post("/auth/login")
    @auth.session()
    def login():
        return {"phone": flask.g.authsidecar.phone}

    @app.post("/actions/transfer")
    @auth.session()
    @auth.approval(action="transfer")
    def transfer():
        return {"action": flask.g.authsidecar_approval.action}

    return app


@pytest.fixture(scope="module")
def flask_client(shared_sidecar):
    with Client(shared_sidecar.target, timeout=5) as client:
        yield flask_app(client).test_client()


def test_flask_decorators_allow_deny_and_spend_approvals_once(flask_client, emulator):
    forged = {"x-auth-subject": "admin", "x_auth_subject": "admin"}
    ok = flask_client.get("/me", headers={**forged, **bearer(mint(emulator, sub="user-3"))})
    assert ok.status_code == 200 and ok.json == {"subject": "user-3", "forged": None}
    missing = flask_client.get("/me")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="authsidecar"'
    bad = flask_client.get("/me", headers=bearer("not.a.jwt"))
    assert bad.status_code == 401 and bad.json == {"error": "malformed"}

    token = session(emulator)
    assert flask_client.post("/auth/login", headers={"x-session-token": token, "x-user-phone": PHONE}).json == {
        "phone": PHONE
    }
    approval = control(emulator, "approvals", phone=PHONE, action="transfer", session_token=token)["approval_token"]
    headers = {"x-session-token": token, "x-user-phone": PHONE, "x-approval-token": approval}
    assert flask_client.post("/actions/transfer", headers=headers).json == {"action": "transfer"}
    replay = flask_client.post("/actions/transfer", headers=headers)
    assert replay.status_code == 403 and replay.json == {"error": "already_used"}


def test_flask_and_wsgi_middleware_sidecar_down_is_503(shared_sidecar, emulator):
    with Client(f"127.0.0.1:{free_port()}", timeout=1) as down:
        assert flask_app(down).test_client().get("/me", headers=bearer("a.b.c")).status_code == 503

    def echo(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("HTTP_X_AUTH_SUBJECT", "").encode()]

    with Client(shared_sidecar.target, timeout=5) as client:
        wsgi = flask.Flask("wsgi")  # only its test client, to drive the bare WSGI app
        wsgi.wsgi_app = WsgiMiddleware(echo, client, exclude=("/health",))  # type: ignore[method-assign]
        http = wsgi.test_client()
        answer = http.get("/x", headers={"x-auth-subject": "admin", **bearer(mint(emulator, sub="user-5"))})
        assert answer.status_code == 200 and answer.data == b"user-5"
        assert http.get("/health", headers={"x-auth-subject": "admin"}).data == b""
        denied = http.get("/x")
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"] == 'Bearer realm="authsidecar"'
