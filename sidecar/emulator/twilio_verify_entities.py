"""Verify v2 entities and the service resource: what a backend reads and removes, not what it creates.

From the SDKs (npm twilio@6.3.1 lib/rest/verify/v2/service/entity.js, entity/factor.js `FactorListInstance.page`,
lib/rest/verify/v2/service.js `ServiceContextImpl.fetch`; PyPI twilio==9.13.0 twilio/rest/verify/v2/service/
entity/__init__.py, entity/factor.py, service/__init__.py) and twilio-oai spec/json/twilio_verify_v2.json
(FetchEntity, DeleteEntity, ListFactor, FetchService):

- GET    Entities/{Identity}           → 200 the entity (links to its factors and challenges); unknown 20404
- DELETE Entities/{Identity}           → 204, its factors and challenges gone with it; unknown 20404
- GET    Entities/{Identity}/Factors   → 200 {factors, meta}: a page (query PageSize 1-1000, default 50,
                                         Page ≥ 0, PageToken — the only query keys the SDKs send); meta's
                                         next_page_url is absolute, as both SDKs follow it as given. Never a
                                         binding (the secret is answered once, on create). Unknown entity:
                                         20404 (an entity exists once it has had a factor).
- GET    /v2/Services/{Sid}            → 200 the service (the sidecar's health probe); another SID 20404
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .credentials import TWILIO_ACCOUNT_SID, TWILIO_VERIFY_SERVICE_SID
from .twilio_verify_factors import ISSUER, FactorsApi
from .twilio_verify_wire import TwilioError, integer, iso, not_found

PAGE_QUERY = frozenset({"PageSize", "Page", "PageToken"})
MAX_PAGE_TOKEN = 128
CREATED = time.time()  # the emulated service exists from the emulator's start


def routes(area, state, base: str, guarded: Callable) -> list[Route]:
    api = EntitiesApi(area, state)
    e = f"{base}/Entities/{{identity}}"
    return [
        Route(base, guarded(api.fetch_service), methods=["GET"]),
        Route(e, guarded(api.fetch_entity), methods=["GET"]),
        Route(e, guarded(api.delete_entity), methods=["DELETE"]),
        Route(f"{e}/Factors", guarded(api.list_factors, query=PAGE_QUERY), methods=["GET"]),
    ]


class EntitiesApi(FactorsApi):
    def _entity(self, request: Request) -> tuple[str, dict]:
        identity = self.identity(request)
        entity = self.area.entities.get(identity)
        if entity is None:
            raise not_found(request.url.path.removeprefix("/twilio-verify/v2"))
        return identity, entity

    async def fetch_entity(self, request: Request) -> Response:
        identity, entity = self._entity(request)
        path = f"/Entities/{identity}"
        return JSONResponse(
            {
                "sid": entity["sid"],
                "identity": identity,
                "account_sid": TWILIO_ACCOUNT_SID,
                "service_sid": TWILIO_VERIFY_SERVICE_SID,
                "date_created": iso(entity["created"]),
                "date_updated": iso(entity["created"]),
                "url": self.url(path),
                "links": {
                    "factors": self.url(f"{path}/Factors"),
                    "new_factors": self.url(f"{path}/Factors"),
                    "challenges": self.url(f"{path}/Challenges"),
                },
            }
        )

    async def delete_entity(self, request: Request) -> Response:
        identity, _ = self._entity(request)
        del self.area.entities[identity]
        self.area.factors = {k: f for k, f in self.area.factors.items() if f.identity != identity}
        self.area.challenges = {k: c for k, c in self.area.challenges.items() if c.factor.identity != identity}
        return Response(status_code=204)

    async def list_factors(self, request: Request) -> Response:
        identity, _ = self._entity(request)
        q = dict(request.query_params)  # each key once (no_query refused repeats)
        size = integer(q, "PageSize", 1, 1000, 50)
        page = integer(q, "Page", 0, 1_000_000, 0)
        token = q.get("PageToken")
        if token is not None and not (0 < len(token) <= MAX_PAGE_TOKEN and token.isalnum()):
            raise TwilioError(400, 60200, "Invalid parameter `PageToken`")
        if page > 0 and token != _token(page):
            # A later page is reached through next_page_url, whose token the emulator handed out.
            raise TwilioError(400, 60200, "Invalid parameter `PageToken`: not one this list handed out")
        mine = sorted((f for f in self.area.factors.values() if f.identity == identity), key=lambda f: f.created)
        chunk = mine[page * size : (page + 1) * size]
        path = f"/Entities/{identity}/Factors"

        def at(p: int, with_token: bool) -> str:
            query = {"PageSize": size, "Page": p} | ({"PageToken": _token(p)} if with_token and p > 0 else {})
            return self.url(f"{path}?{urlencode(query)}")

        more = (page + 1) * size < len(mine)
        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": at(0, False),
            "previous_page_url": at(page - 1, True) if page > 0 else None,
            "url": at(page, True),
            "next_page_url": at(page + 1, True) if more else None,
            "key": "factors",
        }
        return JSONResponse({"factors": [self.factor_body(f) for f in chunk], "meta": meta})

    async def fetch_service(self, request: Request) -> Response:
        links = ("verification_checks", "verifications", "rate_limits", "messaging_configurations", "entities")
        paths = ("VerificationCheck", "Verifications", "RateLimits", "MessagingConfigurations", "Entities")
        return JSONResponse(
            {
                "sid": TWILIO_VERIFY_SERVICE_SID,
                "account_sid": TWILIO_ACCOUNT_SID,
                "friendly_name": ISSUER,
                "code_length": 6,
                "lookup_enabled": False,
                "psd2_enabled": False,
                "skip_sms_to_landlines": False,
                "dtmf_input_required": False,
                "tts_name": None,
                "do_not_share_warning_enabled": False,
                "custom_code_enabled": True,
                "push": {"include_date": False, "apn_credential_sid": None, "fcm_credential_sid": None},
                "totp": {"issuer": ISSUER, "time_step": 30, "code_length": 6, "skew": 1},
                "default_template_sid": None,
                "whatsapp": {"msg_service_sid": None, "from": None},
                "passkeys": None,
                "verify_event_subscription_enabled": False,
                "date_created": iso(CREATED),
                "date_updated": iso(CREATED),
                "url": self.url(""),
                "links": {name: self.url(f"/{p}") for name, p in zip(links, paths, strict=True)}
                | {"webhooks": self.url("/Webhooks"), "access_tokens": self.url("/AccessTokens")},
            }
        )


def _token(page: int) -> str:
    return f"PT{page}"
