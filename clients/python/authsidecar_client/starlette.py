"""Starlette and FastAPI: a middleware for every request and per-route dependencies (`pip install
'authsidecar-client[starlette]'`).

    auth = SidecarAuth(target="127.0.0.1:50051", timeout=0.5)    # the channel opens on first use
    app.add_middleware(AuthMiddleware, auth=auth, check="jwt", exclude=("/healthz",))

    @app.post("/actions/transfer")
    async def transfer(
        who: Identity = Depends(auth.session()),                 # RAuth verifySession
        approval: Approval = Depends(auth.approval(action="transfer")),  # verifyApproval, spent once
    ): ...

The middleware removes incoming `x-auth-*` headers (forged by definition), sets the verified identity
as `request.state.authsidecar` and as `x-auth-subject`/`x-auth-phone`/… headers, and answers a
request that does not pass with the status and WWW-Authenticate the sidecar's ext_authz would. A
dependency raises HTTPException with the same status and headers. Approval and challenge checks are
dependencies only, per route, and never retried (their tokens are one-time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from authsidecar_client.checks import (
    DEFAULT_HEADERS,
    IDENTITY_PREFIX,
    MAX_BODY_BYTES,
    Approval,
    Check,
    Credentials,
    Denial,
    HeaderNames,
    Identity,
    ask,
    forged,
    from_headers,
    from_json,
)
from authsidecar_client.client import DEFAULT_TARGET, AsyncClient

STATE_KEY = "authsidecar"  # request.state.authsidecar: the Identity a check established
Extractor = Callable[[Request], Awaitable[Credentials]]


def json_body(token_field: str, phone_field: str | None = "phone") -> Extractor:
    """Read the credentials from the JSON body, as the seed READMEs do (`{session_token, phone}`).
    Only a body with a Content-Length of at most 64 KiB is read; the route can still read it."""

    async def extract(request: Request) -> Credentials:
        size = request.headers.get("content-length", "")
        if not size.isdigit() or int(size) > MAX_BODY_BYTES:
            raise Denial(413 if size.isdigit() else 411, "body_not_readable")
        return from_json(await request.body(), token_field, phone_field)

    return extract


class SidecarAuth:
    """The checks of one app, sharing one AsyncClient (one channel, one VerifyStream).

    Without `client`, one is made on first use, inside the server's event loop: a grpc.aio channel
    belongs to the loop it was made in, and a module-level `auth = SidecarAuth(...)` runs before
    uvicorn starts its loop. Close it with `await auth.aclose()` (e.g. in the app's lifespan)."""

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        target: str = DEFAULT_TARGET,
        timeout: float = 0.5,
        headers: HeaderNames = DEFAULT_HEADERS,
    ) -> None:
        self._client, self.target, self.timeout, self.names = client, target, timeout, headers

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(self.target, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def credentials(self, request: Request, kind: str, extractor: Extractor | None) -> Credentials:
        if extractor is not None:
            return await extractor(request)
        return from_headers(kind, request.headers.get, self.names)

    async def verify(self, request: Request, check: Check, extractor: Extractor | None = None) -> Any:
        """Run one check for this request: its Identity/Approval/None, or a Denial."""
        known = getattr(request.state, STATE_KEY, None)
        user_id = known.subject if isinstance(known, Identity) and known.kind == "jwt" else ""
        result = await ask(self.client, check, await self.credentials(request, check.kind, extractor), user_id)
        if isinstance(result, Identity):
            setattr(request.state, STATE_KEY, result)
        return result

    def _dependency(self, check: Check, extractor: Extractor | None) -> Callable[[Request], Awaitable[Any]]:
        async def dependency(request: Request) -> Any:
            try:
                return await self.verify(request, check, extractor)
            except Denial as denial:
                raise HTTPException(denial.status, denial.reason, dict(denial.headers)) from None

        return dependency

    def jwt(self, *, audience: str = "", scopes: Iterable[str] = ()) -> Callable[[Request], Awaitable[Identity]]:
        """VerifyToken on `Authorization: Bearer` (InAI's buildAuthObjectFromToken)."""
        return self._dependency(Check("jwt", audience=audience, scopes=tuple(scopes)), None)

    def session(self, credentials: Extractor | None = None) -> Callable[[Request], Awaitable[Identity]]:
        """VerifySession (RAuth verifySession): x-session-token and x-user-phone, or `credentials`."""
        return self._dependency(Check("session"), credentials)

    def revocation(self, credentials: Extractor | None = None) -> Callable[[Request], Awaitable[None]]:
        """IsRevoked (RAuth isSessionRevoked): passes unless revoked or unknown (fail closed)."""
        return self._dependency(Check("revocation"), credentials)

    def approval(
        self, *, action: str = "", credentials: Extractor | None = None
    ) -> Callable[[Request], Awaitable[Approval]]:
        """VerifyApproval (RAuth verifyApproval): x-approval-token for x-user-phone; spent by this check."""
        return self._dependency(Check("approval", action=action), credentials)

    def challenge(self, *, action: str = "") -> Callable[[Request], Awaitable[None]]:
        """ValidateChallenge (Authsignal validateChallenge): x-challenge-token, bound to the JWT's subject
        when a jwt check ran first on this request."""
        return self._dependency(Check("challenge", action=action), None)


class AuthMiddleware:
    """Pure ASGI: every http request (but `exclude`d path prefixes) must pass `check` (jwt or session)."""

    def __init__(
        self,
        app: ASGIApp,
        auth: SidecarAuth,
        check: str = "jwt",
        *,
        audience: str = "",
        scopes: Iterable[str] = (),
        exclude: Iterable[str] = (),
        identity_prefix: str = IDENTITY_PREFIX,
    ) -> None:
        if check not in ("jwt", "session"):
            raise ValueError("the middleware establishes an identity: check must be jwt or session")
        self.app, self.auth, self.prefix = app, auth, identity_prefix
        self.check = Check(check, audience=audience, scopes=tuple(scopes))
        self.exclude = tuple(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["headers"] = [(k, v) for k, v in scope["headers"] if not forged(k.decode("latin-1"), self.prefix)]
        if any(scope["path"] == p or scope["path"].startswith(p.rstrip("/") + "/") for p in self.exclude):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            identity = await self.auth.verify(request, self.check)
        except Denial as denial:
            await _deny(denial, send)
            return
        scope["headers"] += [(k.encode(), v.encode()) for k, v in identity.headers(self.prefix)]
        await self.app(scope, receive, send)


async def _deny(denial: Denial, send: Send) -> None:
    body = denial.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in denial.headers]
    await send({"type": "http.response.start", "status": denial.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
