"""Ground truth: what the soak did to the emulator and when, and the judgement of each sidecar answer.

Every change is recorded with two times: when the control call was *sent* and when it *returned*.
Judgements are lenient to the sidecar on both sides — a "yes" is wrong only once the change had
certainly happened (returned) plus the propagation bound; a "no" is explained as soon as the change
may have happened (sent). No I/O here; times are `time.time()` seconds.

Judgements:
  ok            the answer is what the ground truth allows
  wrong         a "yes" the ground truth forbids (revoked beyond the bound, garbage, expired,
                a removed key beyond the JWKS bound, a one-time token's second "yes") — must be 0
  fail_closed   a "no" for something valid while a fault that touches this RPC's upstream was active
                (or ended within the grace): an error storm on the platform excuses session and
                approval answers, a JWKS outage token answers; stream faults excuse nothing (the
                sidecar must fall back to asking the platform)
  unexpected    a "no" for something valid that no fault and no recent change explains
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sidecar.core.shared.hashing import fingerprint


class Judgement(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    FAIL_CLOSED = "fail_closed"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True, slots=True)
class Answer:
    """A sidecar answer reduced to what is judged: `yes` lets the caller in; `why` is the reason or gRPC code."""

    yes: bool
    why: str
    t0: float  # the call started
    t1: float  # the answer came


@dataclass
class Session:
    token: str
    created_at: float  # verified from when the control call returned
    ended_sent: float | None = None  # revoke/expire sent to the emulator
    ended_done: float | None = None  # ... and done

    @property
    def live(self) -> bool:
        return self.ended_sent is None


@dataclass
class Key:
    kid: str
    published_at: float  # the rotation that made it current returned
    removed_sent: float | None = None
    removed_done: float | None = None


@dataclass
class SignedToken:
    token: str
    kid: str
    exp: float


@dataclass
class OneTime:
    """An approval or challenge token: across all its calls, at most one "yes"."""

    token: str
    session: Session | None = None  # an approval bound to a session
    answers: list[Answer] = field(default_factory=list)


@dataclass
class FaultWindow:
    kind: str
    affects: frozenset[str]  # the RPCs whose "no" this fault may explain
    start: float  # the fault was sent
    end: float  # the heal returned (may still be running: +inf)


@dataclass
class Bounds:
    propagation: float = 1.0  # revocation → the sidecar must say no after this
    jwks: float = 5.0  # key rotation/removal → the sidecar must know after this
    fault_grace: float = 3.0  # fail-closed answers allowed this long after a fault heals
    leeway: float = 1.0  # the issuers' leeway_seconds in the sidecar's config


class World:
    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.faults: list[FaultWindow] = []
        self.keys: dict[str, Key] = {}

    # --- faults -------------------------------------------------------------------------------
    def fault_started(self, kind: str, affects: frozenset[str], at: float) -> FaultWindow:
        window = FaultWindow(kind, affects, at, float("inf"))
        self.faults.append(window)
        return window

    def in_fault(self, rpc: str, a: Answer) -> str | None:
        """The kind of a fault touching `rpc` that overlaps the call (with the grace after it), or None."""
        for w in reversed(self.faults):
            if rpc in w.affects and w.start <= a.t1 and a.t0 <= w.end + self.bounds.fault_grace:
                return w.kind
        return None

    def _rejected(self, rpc: str, a: Answer) -> tuple[Judgement, str]:
        fault = self.in_fault(rpc, a)
        if fault:
            return Judgement.FAIL_CLOSED, f"during {fault}"
        return Judgement.UNEXPECTED, "no fault or recent change explains it"

    # --- sessions (VerifySession yes = valid, IsRevoked yes = not revoked) ------------------------
    def judge_session(self, rpc: str, s: Session | None, right_phone: bool, a: Answer) -> tuple[Judgement, str]:
        if s is None:
            return (Judgement.WRONG, "yes for an unknown session") if a.yes else (Judgement.OK, "")
        if not right_phone:
            return (Judgement.WRONG, "yes for the wrong phone") if a.yes else (Judgement.OK, "")
        if a.yes:
            if s.ended_done is not None and a.t0 > s.ended_done + self.bounds.propagation:
                late = a.t0 - s.ended_done
                return Judgement.WRONG, f"yes {late:.2f}s after the session was revoked/expired"
            return Judgement.OK, ""
        if s.ended_sent is not None and s.ended_sent <= a.t1:
            return Judgement.OK, ""
        return self._rejected(rpc, a)

    # --- signed tokens (VerifyToken) ---------------------------------------------------------------
    def judge_token(self, t: SignedToken | None, a: Answer) -> tuple[Judgement, str]:
        if t is None:
            return (Judgement.WRONG, "yes for a garbage token") if a.yes else (Judgement.OK, "")
        key = self.keys.get(t.kid)
        expires = t.exp + self.bounds.leeway
        if a.yes:
            if a.t0 >= expires:
                return Judgement.WRONG, f"yes {a.t0 - expires:.2f}s after exp + leeway"
            if key is not None and key.removed_done is not None and a.t0 > key.removed_done + self.bounds.jwks:
                return Judgement.WRONG, f"yes {a.t0 - key.removed_done:.2f}s after its key left the JWKS"
            return Judgement.OK, ""
        if a.t1 >= expires:
            return Judgement.OK, ""
        if key is not None and key.removed_sent is not None and key.removed_sent <= a.t1:
            return Judgement.OK, ""
        if key is not None and a.t0 < key.published_at + self.bounds.jwks:
            return Judgement.OK, ""  # a freshly rotated key the sidecar may not have fetched yet
        return self._rejected("VerifyToken", a)

    # --- one-time tokens (VerifyApproval, ValidateChallenge) ----------------------------------------
    def judge_one_time(
        self, rpc: str, o: OneTime | None, right_owner: bool, answers: list[Answer]
    ) -> list[tuple[Judgement, str]]:
        """All calls of one token at once (racing calls finish in any order); at most one yes, ever."""
        if o is None or not right_owner:
            what = "garbage" if o is None else "the wrong phone/user"
            return [(Judgement.WRONG, f"yes for {what}") if a.yes else (Judgement.OK, "") for a in answers]
        out: list[tuple[Judgement, str]] = []
        yeses = sum(a.yes for a in o.answers)
        for a in answers:
            if a.yes:
                yeses += 1
                s = o.session
                if yeses > 1:
                    out.append((Judgement.WRONG, f"yes number {yeses} for a one-time token"))
                elif s is not None and s.ended_done is not None and a.t0 > s.ended_done + self.bounds.propagation:
                    out.append((Judgement.WRONG, "yes for an approval whose session was revoked"))
                else:
                    out.append((Judgement.OK, ""))
            else:
                out.append((Judgement.OK, ""))
        o.answers.extend(answers)
        if yeses == 0:
            # Nobody got in: the first call was refused. Fine if its session had ended, else a fault.
            first = min(answers, key=lambda a: a.t0)
            s = o.session
            if not (s is not None and s.ended_sent is not None and s.ended_sent <= first.t1):
                out[answers.index(first)] = self._rejected(rpc, first)
        return out


def example(rpc: str, case: str, token: str, a: Answer, why: str, started: float) -> dict:
    """One report example: never the token itself, only its fingerprint."""
    return {
        "rpc": rpc,
        "case": case,
        "token_sha256_12": fingerprint(token),
        "answer": "yes" if a.yes else a.why,
        "at_seconds": round(a.t0 - started, 3),
        "took_ms": round((a.t1 - a.t0) * 1000, 1),
        "why": why,
    }
