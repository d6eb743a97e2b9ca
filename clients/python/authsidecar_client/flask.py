"""Flask (and any WSGI app): per-route decorators (`pip install 'authsidecar-client[flask]'`).

    auth = FlaskAuth(Client("127.0.0.1:50051", timeout=0.5))

    @app.post("/actions/transfer")
    @auth.session()                       # RAuth verifySession; g.authsidecar is the Identity
    @auth.approval(action="transfer")     # verifyApproval, spent once, never retried
    def transfer(): ...

Each decorator removes incoming `x-auth-*` headers from the request (forged by definition), sets the
verified identity as `flask.g.authsidecar`, and answers a request that does not pass with the status
and WWW-Authenticate of the sidecar's ext_authz. `WsgiMiddleware` does the same for a whole WSGI app
without Flask, with the identity in `environ["authsidecar.identity"]` and as HTTP_X_AUTH_* headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from authsidecar_client.checks import (
    DEFAULT_HEADERS,
    IDENTITY_PREFIX,
    MAX_BODY_BYTES,
    Check,
    Credentials,
    Denial,
    HeaderNames,
    Identity,
    ask_sync,
    forged,
    from_headers,
    from_json,
)
from authsidecar_client.client import Client

F = TypeVar("F", bound=Callable[..., Any])
ENVIRON_KEY = "authsidecar.identity"
Extractor = Callable[[], Credentials]  # reads flask.request


def json_body(token_field: str, phone_field: str | None = "phone") -> Extractor:
    """Credentials from the JSON body (`{session_token, phone}` as in the seed READMEs), at most 64 KiB."""

    def extract() -> Credentials:
        import flask  # noqa: PLC0415 (the framework is imported only by those who use it)

        size = flask.request.content_length
        if size is None or size > MAX_BODY_BYTES:
            raise Denial(411 if size is None else 413, "body_not_readable")
        return from_json(flask.request.get_data(cache=True), token_field, phone_field)

    return extract


def _strip_forged(environ: dict[str, Any], prefix: str) -> None:
    for key in [k for k in environ if k.startswith("HTTP_") and forged(k[5:], prefix)]:
        del environ[key]


def _get(environ: dict[str, Any]) -> Callable[[str], str | None]:
    def get(name: str) -> str | None:
        key = name.upper().replace("-", "_")
        return environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key)

    return get


class FlaskAuth:
    """Decorators for Flask routes, sharing one blocking Client."""

    def __init__(self, client: Client, headers: HeaderNames = DEFAULT_HEADERS, identity_prefix: str = IDENTITY_PREFIX):
        self.client, self.names, self.prefix = client, headers, identity_prefix

    def _decorator(self, check: Check, extractor: Extractor | None) -> Callable[[F], F]:
        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                import flask  # noqa: PLC0415 (the framework is imported only by those who use it)

                environ = flask.request.environ
                _strip_forged(environ, self.prefix)
                known = flask.g.get("authsidecar")
                user_id = known.subject if isinstance(known, Identity) and known.kind == "jwt" else ""
                try:
                    creds = extractor() if extractor else from_headers(check.kind, _get(environ), self.names)
                    result = ask_sync(self.client, check, creds, user_id)
                except Denial as denial:
                    return flask.Response(
                        denial.body(), denial.status, list(denial.headers), content_type="application/json"
                    )
                if isinstance(result, Identity):
                    flask.g.authsidecar = result
                elif result is not None:
                    flask.g.authsidecar_approval = result
                return view(*args, **kwargs)

            return wrapped  # type: ignore[return-value]

        return decorate

    def jwt(self, *, audience: str = "", scopes: Iterable[str] = ()) -> Callable[[F], F]:
        return self._decorator(Check("jwt", audience=audience, scopes=tuple(scopes)), None)

    def session(self, credentials: Extractor | None = None) -> Callable[[F], F]:
        return self._decorator(Check("session"), credentials)

    def revocation(self, credentials: Extractor | None = None) -> Callable[[F], F]:
        return self._decorator(Check("revocation"), credentials)

    def approval(self, *, action: str = "", credentials: Extractor | None = None) -> Callable[[F], F]:
        return self._decorator(Check("approval", action=action), credentials)

    def challenge(self, *, action: str = "") -> Callable[[F], F]:
        return self._decorator(Check("challenge", action=action), None)


class WsgiMiddleware:
    """Every request of a WSGI app (but `exclude`d path prefixes) must pass `check` (jwt or session)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        client: Client,
        check: str = "jwt",
        *,
        audience: str = "",
        scopes: Iterable[str] = (),
        exclude: Iterable[str] = (),
        headers: HeaderNames = DEFAULT_HEADERS,
        identity_prefix: str = IDENTITY_PREFIX,
    ) -> None:
        if check not in ("jwt", "session"):
            raise ValueError("the middleware establishes an identity: check must be jwt or session")
        self.app, self.client, self.names, self.prefix = app, client, headers, identity_prefix
        self.check = Check(check, audience=audience, scopes=tuple(scopes))
        self.exclude = tuple(exclude)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        _strip_forged(environ, self.prefix)
        path = environ.get("PATH_INFO", "")
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.exclude):
            return self.app(environ, start_response)
        try:
            creds = from_headers(self.check.kind, _get(environ), self.names)
            identity = ask_sync(self.client, self.check, creds)
        except Denial as denial:
            return _deny(denial, start_response)
        assert isinstance(identity, Identity)
        environ[ENVIRON_KEY] = identity
        for name, value in identity.headers(self.prefix):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


def _deny(denial: Denial, start_response: Callable[..., Any]) -> Iterator[bytes]:
    body = denial.body()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *denial.headers]
    start_response(f"{denial.status} {_PHRASES.get(denial.status, 'Error')}", headers)
    return iter([body])


_PHRASES = {
    401: "Unauthorized",
    403: "Forbidden",
    411: "Length Required",
    413: "Content Too Large",
    503: "Service Unavailable",
}
