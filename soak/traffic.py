"""Mixed traffic: a few paced workers call the sidecar and judge every answer against the World.

What a worker may ask about comes from `Pools`, which the event loop (events.py) fills: sessions
(live and ended), signed tokens (current keys, removed keys, short-lived), garbage, and one-time
approval and challenge tokens. One-time tokens are spent as a group of calls — once, a replay, two
racing calls, or a wrong phone/user first — and the group is judged together (racing answers
arrive in any order).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc

from .report import Tally
from .world import Answer, OneTime, Session, SignedToken, World

PHONE = "+14155552671"
OTHER_PHONE = "+442071838750"
CALL_TIMEOUT = 5.0
# Share of cases per RPC (a one-time case is one to three calls).
MIX = {"VerifyToken": 0.35, "VerifySession": 0.25, "IsRevoked": 0.2, "VerifyApproval": 0.1, "ValidateChallenge": 0.1}


@dataclass
class Challenge:
    one_time: OneTime
    user_id: str
    action: str


@dataclass
class Pools:
    sessions: list[Session] = field(default_factory=list)
    tokens: list[SignedToken] = field(default_factory=list)  # signed by a current key
    old_tokens: list[SignedToken] = field(default_factory=list)  # signed by a key since removed
    garbage: list[str] = field(default_factory=list)  # never valid
    approvals: deque[OneTime] = field(default_factory=deque)
    challenges: deque[Challenge] = field(default_factory=deque)

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions if s.live]


def _reason(value: int) -> str:
    return pb.Reason.Name(value)


class Traffic:
    def __init__(self, target: str, world: World, pools: Pools, tally: Tally, rng: random.Random) -> None:
        self.target = target
        self.world = world
        self.pools = pools
        self.tally = tally
        self.rng = rng
        self.cases: dict[str, Callable[[], Awaitable[None]]] = {
            "VerifyToken": self.verify_token,
            "VerifySession": self.verify_session,
            "IsRevoked": self.is_revoked,
            "VerifyApproval": self.verify_approval,
            "ValidateChallenge": self.validate_challenge,
        }

    async def run(self, workers: int, rate: float, until: float) -> None:
        async with grpc.aio.insecure_channel(self.target) as channel:
            self.stub = auth_pb2_grpc.AuthServiceStub(channel)
            await asyncio.gather(*(self._worker(workers / rate, until) for _ in range(workers)))

    async def _worker(self, interval: float, until: float) -> None:
        names, weights = list(MIX), list(MIX.values())
        next_at = time.monotonic() + self.rng.uniform(0, interval)
        while time.time() < until:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at + interval, time.monotonic())  # behind schedule: no catch-up burst
            await self.cases[self.rng.choices(names, weights)[0]]()

    async def _call(self, method, request, yes: Callable[[object], bool], why: Callable[[object], str]) -> Answer:
        t0 = time.time()
        try:
            response = await method(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            return Answer(False, f"grpc:{exc.code().name}", t0, time.time())
        answered = yes(response)
        return Answer(answered, "" if answered else why(response), t0, time.time())

    # --- VerifyToken --------------------------------------------------------------------------
    async def verify_token(self) -> None:
        r, p = self.rng.random(), self.pools
        token: SignedToken | None = None
        if r < 0.6 and p.tokens:
            token, case = self.rng.choice(p.tokens), "signed"
        elif r < 0.75 and p.old_tokens:
            token, case = self.rng.choice(p.old_tokens), "removed_key"
        else:
            case = "garbage"
        raw = token.token if token else self.rng.choice(p.garbage)
        a = await self._call(
            self.stub.VerifyToken, pb.VerifyTokenRequest(token=raw), lambda r: r.valid, lambda r: _reason(r.reason)
        )
        self.tally.add("VerifyToken", case, raw, a, *self.world.judge_token(token, a))

    # --- VerifySession / IsRevoked ----------------------------------------------------------------
    def _pick_session(self) -> tuple[Session | None, str, str, str]:
        """(session or None for unknown, token, phone, case)."""
        r, live = self.rng.random(), self.pools.live_sessions()
        if r < 0.7 and live:
            s = self.rng.choice(live)
            return s, s.token, PHONE, "live"
        if r < 0.88 and self.pools.sessions:
            s = self.rng.choice(self.pools.sessions)
            return s, s.token, PHONE, "any"
        if r < 0.94 and self.pools.sessions:
            s = self.rng.choice(self.pools.sessions)
            return s, s.token, OTHER_PHONE, "wrong_phone"
        return None, "sess_" + secrets.token_urlsafe(18), PHONE, "unknown"

    async def verify_session(self) -> None:
        s, token, phone, case = self._pick_session()
        a = await self._call(
            self.stub.VerifySession,
            pb.VerifySessionRequest(session_token=token, phone=phone),
            lambda r: r.valid,
            lambda r: _reason(r.reason),
        )
        judged = self.world.judge_session("VerifySession", s, phone == PHONE, a)
        self.tally.add("VerifySession", case, token, a, *judged)

    async def is_revoked(self) -> None:
        s, token, phone, case = self._pick_session()
        a = await self._call(
            self.stub.IsRevoked,
            pb.IsRevokedRequest(session_token=token, phone=phone),
            lambda r: not r.revoked,
            lambda r: _reason(r.reason),
        )
        self.tally.add("IsRevoked", case, token, a, *self.world.judge_session("IsRevoked", s, phone == PHONE, a))

    # --- one-time tokens -----------------------------------------------------------------------------
    async def _spend(
        self,
        rpc: str,
        o: OneTime | None,
        token: str,
        right: Callable[[], Awaitable[Answer]],
        wrong: Callable[[], Awaitable[Answer]],
    ) -> None:
        """One group of calls for a one-time token, judged together."""
        r = self.rng.random()
        if o is None:
            case, group = "garbage", [await right()]
        elif r < 0.4:
            case, group = "once", [await right()]
        elif r < 0.6:
            case, group = "replay", [await right(), await right()]
        elif r < 0.8:
            case, group = "race", list(await asyncio.gather(right(), right()))
        else:
            case, first = "wrong_owner_first", await wrong()
            self._judge_group(rpc, "wrong_owner", o, token, False, [first])
            group = [await right()]
        self._judge_group(rpc, case, o, token, True, group)

    def _judge_group(
        self, rpc: str, case: str, o: OneTime | None, token: str, right_owner: bool, answers: list[Answer]
    ) -> None:
        for a, (verdict, why) in zip(answers, self.world.judge_one_time(rpc, o, right_owner, answers), strict=True):
            self.tally.add(rpc, case, token, a, verdict, why)

    async def verify_approval(self) -> None:
        p, garbage = self.pools, self.rng.random() < 0.05
        if not (garbage or p.approvals):
            return await self.verify_token()  # the pool ran dry: random tokens would spend the lookup budget
        o = None if garbage else p.approvals.popleft()
        token = o.token if o else "appr_" + secrets.token_urlsafe(18)

        def call(phone: str) -> Callable[[], Awaitable[Answer]]:
            request = pb.VerifyApprovalRequest(approval_token=token, phone=phone)
            return lambda: self._call(self.stub.VerifyApproval, request, lambda r: r.valid, lambda r: _reason(r.reason))

        await self._spend("VerifyApproval", o, token, call(PHONE), call(OTHER_PHONE))

    async def validate_challenge(self) -> None:
        p, garbage = self.pools, self.rng.random() < 0.05
        if not (garbage or p.challenges):
            return await self.verify_token()
        c = None if garbage else p.challenges.popleft()
        token = c.one_time.token if c else "chl_" + secrets.token_urlsafe(24)
        user = c.user_id if c else "soak-user"

        def call(user_id: str) -> Callable[[], Awaitable[Answer]]:
            request = pb.ValidateChallengeRequest(token=token, user_id=user_id)
            return lambda: self._call(
                self.stub.ValidateChallenge, request, lambda r: r.is_valid, lambda r: _reason(r.reason)
            )

        await self._spend("ValidateChallenge", c.one_time if c else None, token, call(user), call(user + "-other"))
