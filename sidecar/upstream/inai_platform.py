"""InAI's platform-administration API (`/api/platform`), as @inai-dev/backend 1.10.0 calls it.

Evidence: the SDK's dist/index.js (`platformLogin` … `rotateAppKeys`, `platformRequest`, `request`):
  - every call sends `Content-Type: application/json` (GETs and DELETEs too) and, unlike /api/v1, **no**
    `X-Publishable-Key` (the SDK adds it on /api/v1/ paths only);
  - login, mfa/challenge and refresh carry no bearer; every other call `Authorization: Bearer <platform
    access token>`;
  - ids go into the path as the SDK writes them (the adapter percent-encodes them, so a hostile id
    stays inside its segment); listAppUsers' and listAppApiKeys' options go into the query only when set;
  - errors are RFC 7807 problem+json, as on /api/v1 (the SDK's one `request`).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from sidecar.core.accounts.records import LoginResult, Tokens
from sidecar.upstream.transport import DEFAULT_MAX_RESPONSE_BYTES

from .guard import reads_answers
from .inai import _error, _tokens
from .json_http import JsonHttp

UPSTREAM = "identity"
BASE = "/api/platform"
JSON = {"Content-Type": "application/json"}

# operation → (method, path template, body members, query members); `{app_id}`/`{key_id}` from the args.
# Body and query members are (wire name, AdminRequest field); a body member without a value is left out
# (the SDK's JSON.stringify drops undefined), as are query members (the SDK sets only truthy ones).
WIRE: dict[str, tuple[str, str, tuple[tuple[str, str], ...] | None, tuple[tuple[str, str], ...]]] = {
    "platformLogout": ("POST", "/auth/logout", None, ()),
    "platformGetMe": ("GET", "/auth/me", None, ()),
    "listApplications": ("GET", "/applications", None, ()),
    "createApplication": ("POST", "/applications", (("name", "name"), ("slug", "slug")), ()),
    "getApplication": ("GET", "/applications/{app_id}", None, ()),
    "updateApplication": ("PATCH", "/applications/{app_id}", (("name", "name"),), ()),
    "getApplicationStats": ("GET", "/applications/{app_id}/stats", None, ()),
    "listAppUsers": (
        "GET",
        "/applications/{app_id}/users",
        None,
        (("environmentId", "environment_id"), ("page", "page"), ("limit", "limit")),
    ),
    "createAppUser": (
        "POST",
        "/applications/{app_id}/users",
        (
            ("email", "email"),
            ("password", "password"),
            ("firstName", "first_name"),
            ("lastName", "last_name"),
            ("environmentId", "environment_id"),
        ),
        (),
    ),
    "listAppApiKeys": ("GET", "/applications/{app_id}/api-keys", None, (("environmentId", "environment_id"),)),
    "createAppApiKey": (
        "POST",
        "/applications/{app_id}/api-keys",
        (("name", "name"), ("environmentId", "environment_id")),
        (),
    ),
    "revokeAppApiKey": ("DELETE", "/applications/{app_id}/api-keys/{key_id}", None, ()),
    "rotateAppKeys": ("POST", "/applications/{app_id}/rotate-keys", (("environmentId", "environment_id"),), ()),
}


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class InaiPlatformClient:
    def __init__(
        self,
        base_url: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.http = JsonHttp(UPSTREAM, base_url, {}, timeout, transport, max_response_bytes)

    async def _send(
        self, method: str, path: str, endpoint: str, access_token: str = "", body: dict | None = None, **kwargs
    ) -> dict:
        headers = dict(JSON)
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        if body is not None:
            kwargs["json"] = body
        reply = await self.http.request(method, BASE + path, BASE + endpoint, headers=headers, **kwargs)
        if not reply.ok:
            raise _error(reply, BASE + endpoint)
        return reply.data if isinstance(reply.data, dict) else {}

    async def login(self, email: str, password: str) -> LoginResult:
        data = await self._send("POST", "/auth/login", "/auth/login", body={"email": email, "password": password})
        if data.get("mfa_required"):
            return LoginResult(mfa_required=True, mfa_token=str(data.get("mfa_token") or ""))
        return LoginResult(tokens=_tokens(data))

    async def mfa_challenge(self, mfa_token: str, code: str) -> Tokens:
        body = {"mfa_token": mfa_token, "code": code}
        return _tokens(await self._send("POST", "/auth/mfa/challenge", "/auth/mfa/challenge", body=body))

    async def refresh(self, refresh_token: str) -> Tokens:
        body = {"refresh_token": refresh_token}
        return _tokens(await self._send("POST", "/auth/refresh", "/auth/refresh", body=body))

    async def ask(self, operation: str, access_token: str, args: dict[str, str | int]) -> dict:
        method, template, members, query = WIRE[operation]
        path = template.format(**{k: quote(str(args.get(k, "")), safe="") for k in ("app_id", "key_id")})
        body = None if members is None else {wire: args[f] for wire, f in members if args.get(f) not in (None, "")}
        params = {wire: str(args[f]) for wire, f in query if args.get(f)}
        kwargs = {"params": params} if params else {}
        return await self._send(method, path, template, access_token, body, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()
