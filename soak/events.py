"""What the soak does to the emulator, recorded in the World as it happens.

- `run`: one change at a time, in a fixed rotation so a short soak still sees every kind —
  session revocations and expiries (with new sessions to replace them), JWKS key rotations that
  remove the old key, and injected faults (upstream error storms, a latency spike, a JWKS outage,
  event-stream drops, outages, stalls and a restart that loses the event ids).
- `refill`: keeps the Pools stocked with signed tokens (some short-lived), approvals (most bound
  to a live session) and completed challenges, which the traffic spends.

All through the emulator's control API (sidecar/emulator: /_control/...); the one-time challenge
needs the emulator's /v1 track call, which faults may refuse — then that refill waits a round.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from sidecar.config import EMULATOR_SECRET_KEY
from sidecar.upstream.authsignal import SDK_WIRE_VERSION, VERSION_HEADER

from .traffic import PHONE, Challenge, Pools
from .world import Key, OneTime, Session, SignedToken, World

AUTHSIGNAL_WIRE_HEADERS = {VERSION_HEADER: SDK_WIRE_VERSION}  # the emulator refuses a request without it

ROTATING_ISSUER = "main"
ISSUERS = ("main", "rsa")
JWKS_MAX_AGE = 2  # seconds: the emulator's Cache-Control, so rotations show up quickly
SESSIONS = 60
TARGETS = {"tokens": 40, "old_tokens": 40, "approvals": 40, "challenges": 30}
STATE_EVENTS = ("revoke", "rotate", "revoke", "expire", "add_sessions", "revoke")
# Which RPCs' refusals a fault may explain (world.py): the ones that need the broken upstream.
PLATFORM_RPCS = frozenset({"VerifySession", "IsRevoked", "VerifyApproval"})
EVERY_RPC = PLATFORM_RPCS | {"VerifyToken", "ValidateChallenge"}
NO_RPC: frozenset[str] = frozenset()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Events:
    def __init__(self, emulator_url: str, world: World, pools: Pools, rng: random.Random, interval: float) -> None:
        self.url = emulator_url
        self.http = httpx.AsyncClient(base_url=emulator_url, timeout=10)
        self.world = world
        self.pools = pools
        self.rng = rng
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    async def _post(self, path: str, body: dict | None = None) -> tuple[dict, float, float]:
        """(answer, sent, done) of one control call."""
        sent = time.time()
        resp = await self.http.post(path, json=body or {})
        resp.raise_for_status()
        return resp.json(), sent, time.time()

    async def _faults(self, **changes) -> None:
        await self._post("/_control/faults", changes)

    # --- set-up ----------------------------------------------------------------------------------
    @staticmethod
    def prepare(emulator_http: httpx.Client) -> None:
        """Before the sidecar starts: its first JWKS load must already see the short max-age."""
        for name in ISSUERS:
            emulator_http.post(
                f"/_control/jwks/issuers/{name}/max-age", json={"seconds": JWKS_MAX_AGE}
            ).raise_for_status()

    async def setup(self) -> None:
        issuers = (await self.http.get("/_control/jwks/issuers")).json()
        for name in ISSUERS:
            for kid in issuers[name]["kids"]:
                self.world.keys[kid] = Key(kid, published_at=0.0)
        await self._new_sessions(SESSIONS)
        self.pools.garbage = await self._garbage()
        await self.refill_once()

    async def _garbage(self) -> list[str]:
        """Tokens that must never be valid: hostile mints from the emulator and local junk."""
        hostile = [
            {"tamper": "payload"},
            {"tamper": "zero"},
            {"tamper": "truncate"},
            {"alg": "none"},
            {"alg": "HS256"},
            {"signer": "unpublished"},
            {"claims": {"exp": int(time.time()) - 600}},
            {"claims": {"aud": "someone-else"}},
            {"kid": "no-such-kid"},
            {"tamper": "der"},
        ]
        out = []
        for body in hostile:
            minted, _, _ = await self._post(f"/_control/jwks/issuers/{ROTATING_ISSUER}/mint", body)
            out.append(minted["token"])
        iss = f"{self.url}/issuers/{ROTATING_ISSUER}"
        for _ in range(20):
            header = {"alg": "ES256", "kid": secrets.token_hex(8)}
            claims = {
                "iss": self.rng.choice([iss, "https://evil.example/" + secrets.token_hex(4)]),
                "sub": "x",
                "aud": "authsidecar-demo",
                "exp": int(time.time()) + 3600,
            }
            out.append(
                f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
                f"{_b64(secrets.token_bytes(64))}"
            )
        out += ["", "not-a-jwt", "a.b.c", "eyJ.eyJ.sig", secrets.token_urlsafe(200)]
        return [t for t in out if t]  # an empty token is INVALID_ARGUMENT: asked about elsewhere

    # --- refill ----------------------------------------------------------------------------------
    async def refill(self, until: float) -> None:
        while time.time() < until:
            try:
                await self.refill_once()
            except httpx.HTTPError:
                self.errors["refill"] += 1
            await asyncio.sleep(0.3)

    async def refill_once(self) -> None:
        p, now = self.pools, time.time()
        leeway = self.world.bounds.leeway
        p.tokens = [t for t in p.tokens if t.exp + leeway > now - 10]  # keep expired ones a while: a case too
        del p.old_tokens[: -TARGETS["old_tokens"]]
        while sum(t.exp > now for t in p.tokens) < TARGETS["tokens"]:
            issuer = ROTATING_ISSUER if self.rng.random() < 0.7 else "rsa"
            exp = int(now) + (self.rng.randint(2, 6) if self.rng.random() < 0.2 else 300)
            minted, _, _ = await self._post(f"/_control/jwks/issuers/{issuer}/mint", {"claims": {"exp": exp}})
            p.tokens.append(SignedToken(minted["token"], minted["kid"], exp))
        while len(p.approvals) < TARGETS["approvals"]:
            live = p.live_sessions()
            session = self.rng.choice(live) if live and self.rng.random() < 0.7 else None
            made, _, _ = await self._post(
                "/_control/platform/approvals",
                {"phone": PHONE, "action": "soak", "session_token": session.token if session else ""},
            )
            p.approvals.append(OneTime(made["approval_token"], session))
        while len(p.challenges) < TARGETS["challenges"]:
            if not await self._new_challenge():
                break

    async def _new_challenge(self) -> bool:
        user, action, key = f"soak-{secrets.token_hex(4)}", "soak-step-up", secrets.token_hex(8)
        track = await self.http.post(
            f"/v1/users/{user}/actions/{action}",
            json={"idempotencyKey": key},
            auth=(EMULATOR_SECRET_KEY, ""),
            headers=AUTHSIGNAL_WIRE_HEADERS,
        )
        if track.status_code != 200:
            return False  # an injected fault; try again next round
        done, _, _ = await self._post(
            "/_control/challenges/complete", {"userId": user, "action": action, "idempotencyKey": key}
        )
        self.pools.challenges.append(Challenge(OneTime(done["token"]), user, action))
        return True

    # --- events ------------------------------------------------------------------------------------
    async def run(self, until: float, with_faults: bool = True) -> None:
        faults = list(self._faults_table())
        i = 0
        while time.time() < until - 1:
            try:
                await getattr(self, f"_{STATE_EVENTS[i % len(STATE_EVENTS)]}")()
                if with_faults and i % 2 == 1 and time.time() < until - 4:
                    await self._fault(*faults[(i // 2) % len(faults)])
            except httpx.HTTPError:
                self.errors["event"] += 1
            i += 1
            await asyncio.sleep(max(0.0, min(self.interval, until - time.time())))

    async def _new_sessions(self, count: int) -> None:
        made, _, done = await self._post("/_control/platform/sessions", {"phone": PHONE, "count": count})
        self.pools.sessions += [Session(t, done) for t in made["session_tokens"]]
        ended = [s for s in self.pools.sessions if not s.live]
        for s in ended[:-100]:  # remember the latest ended sessions only
            self.pools.sessions.remove(s)

    async def _end_one(self, verb: str) -> None:
        live = self.pools.live_sessions()
        if not live:
            return
        s = self.rng.choice(live)
        s.ended_sent = time.time()
        _, _, s.ended_done = await self._post(f"/_control/platform/sessions/{verb}", {"session_token": s.token})
        self.counts[verb] += 1
        await self._new_sessions(1)

    async def _revoke(self) -> None:
        await self._end_one("revoke")

    async def _expire(self) -> None:
        await self._end_one("expire")

    async def _add_sessions(self) -> None:
        await self._new_sessions(5)
        self.counts["add_sessions"] += 1

    async def _rotate(self) -> None:
        sent = time.time()
        rotated, _, done = await self._post(f"/_control/jwks/issuers/{ROTATING_ISSUER}/rotate", {"remove_old": True})
        old = self.world.keys.setdefault(rotated["previous"], Key(rotated["previous"], 0.0))
        old.removed_sent, old.removed_done = sent, done
        self.world.keys[rotated["kid"]] = Key(rotated["kid"], published_at=done)
        p = self.pools
        p.old_tokens += [t for t in p.tokens if t.kid == old.kid]
        p.tokens = [t for t in p.tokens if t.kid != old.kid]
        self.counts["rotate_key"] += 1

    # --- faults ------------------------------------------------------------------------------------
    def _faults_table(
        self,
    ) -> list[tuple[str, frozenset[str], Callable[[], Awaitable[None]], float, Callable[[], Awaitable[None]]]]:
        """(name, RPCs it may make fail closed, start, seconds, heal). The stream faults excuse no
        refusal: with the stream down the sidecar must ask the platform, not say no."""
        heal = lambda: self._faults(reset=True)  # noqa: E731
        stream = "/_control/platform/stream"

        async def nothing() -> None:
            return None

        async def drop() -> None:
            await self._post(f"{stream}/drop")

        async def stream_down() -> None:
            await self._faults(sse_down=True)
            await drop()

        async def restart() -> None:
            await self._post(f"{stream}/restart")
            await drop()

        return [
            ("platform_error_storm", PLATFORM_RPCS, lambda: self._faults(error_rate=1.0, path_prefix="/v2"), 2.0, heal),
            ("stream_drop", NO_RPC, drop, 1.0, nothing),
            ("latency_spike", NO_RPC, lambda: self._faults(latency_seconds=0.3), 2.0, heal),  # < every timeout
            ("jwks_down", frozenset({"VerifyToken"}), lambda: self._faults(jwks_down=True), 3.0, heal),
            ("stream_down", NO_RPC, stream_down, 3.0, heal),
            ("error_storm_everywhere", EVERY_RPC, lambda: self._faults(error_rate=0.5), 2.0, heal),
            (
                "stream_stall",
                NO_RPC,
                lambda: self._post(stream, {"stall": True}),
                4.0,
                lambda: self._post(stream, {"stall": False}),
            ),
            ("stream_restart_lost_ids", NO_RPC, restart, 1.0, nothing),
        ]

    async def _fault(self, name: str, affects: frozenset[str], start, seconds: float, heal) -> None:
        window = self.world.fault_started(name, affects, time.time())
        try:
            await start()
            await asyncio.sleep(seconds)
        finally:
            await heal()
            window.end = time.time()
        self.counts[f"fault_{name}"] += 1

    async def aclose(self) -> None:
        await self.http.aclose()
