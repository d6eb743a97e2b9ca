"""The upstream emulator: one Starlette app serving every upstream API the sidecar talks to.

Routes by area (each in its own module, each with its own control endpoints under /_control):
  platform.py    RAuth v2 sessions, approvals, health, SSE events    under /v2
  challenges.py  Authsignal Server API (track, validate, actions, users)  under /v1
  authy.py       Authy-style TOTP, OneTouch, phone verification, users  under /authy
  inai.py        InAI Auth API v1 (@inai-dev/backend): accounts, JWKS  under /inai
  identity.py    identity microservice (seed 004): login, 2FA, sessions  under /identity/api
  jwks.py        issuers' JWKS + OIDC discovery, key rotation, minting   under /issuers/{name}
  twilio_verify.py  Twilio Verify v2 (verifications, factors, challenges)  under /twilio-verify/v2
  control.py     faults and request counters                          under /_control
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware

from sidecar.emulator import (
    authsignal as challenges,
)
from sidecar.emulator import (
    authy,
    control,
    inai,
    inai_platform,
    twilio_verify,
)
from sidecar.emulator import (
    identity_service as identity,
)
from sidecar.emulator import (
    issuers as jwks,
)
from sidecar.emulator import (
    rauth as platform,
)
from sidecar.emulator.faults import FaultMiddleware, Faults, RequestLog


@dataclass
class EmulatorState:
    """Everything the emulator knows; each area keeps its own part."""

    base_url: str = "http://127.0.0.1:8900"
    faults: Faults = field(default_factory=Faults)
    requests: RequestLog = field(default_factory=RequestLog)
    areas: dict = field(default_factory=dict)


def build_app(base_url: str = "http://127.0.0.1:8900") -> Starlette:
    state = EmulatorState(base_url=base_url.rstrip("/"))
    routes = []
    for area in (control, platform, challenges, jwks, authy, identity, inai, inai_platform, twilio_verify):
        routes.extend(area.routes(state))
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, faults=state.faults, log=state.requests)])
    app.state.emulator = state
    return app
