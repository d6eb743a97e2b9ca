"""The soak's judge (soak/world.py): each kind of wrong answer is caught, and leniency is only where the
ground truth allows it (propagation and JWKS bounds, fault windows plus grace)."""

from __future__ import annotations

from soak.world import Answer, Bounds, Judgement, Key, OneTime, Session, SignedToken, World

T = 1_000_000.0


def world() -> World:
    return World(Bounds(propagation=1.0, jwks=5.0, fault_grace=3.0, leeway=1.0))


def yes(t0: float, t1: float | None = None) -> Answer:
    return Answer(True, "", t0, t0 + 0.01 if t1 is None else t1)


def no(t0: float, why: str = "REASON_UPSTREAM_UNAVAILABLE") -> Answer:
    return Answer(False, why, t0, t0 + 0.01)


def test_sessions():
    w = world()
    s = Session("sess_x", created_at=T)
    assert w.judge_session("VerifySession", s, True, yes(T + 1))[0] is Judgement.OK
    assert w.judge_session("VerifySession", s, True, no(T + 1))[0] is Judgement.UNEXPECTED
    s.ended_sent, s.ended_done = T + 10, T + 10.01
    assert w.judge_session("VerifySession", s, True, yes(T + 10.5))[0] is Judgement.OK  # within the propagation bound
    verdict, why = w.judge_session("VerifySession", s, True, yes(T + 11.5))
    assert verdict is Judgement.WRONG and "after the session was revoked" in why
    assert w.judge_session("VerifySession", s, True, no(T + 10.005))[0] is Judgement.OK  # the revoke was already sent
    assert w.judge_session("VerifySession", None, True, yes(T))[0] is Judgement.WRONG  # unknown session
    assert w.judge_session("VerifySession", Session("s", T), False, yes(T))[0] is Judgement.WRONG  # wrong phone


def test_fault_windows_and_grace():
    w = world()
    s = Session("sess_x", created_at=T)
    window = w.fault_started("platform_error_storm", frozenset({"VerifySession"}), T + 5)
    assert w.judge_session("VerifySession", s, True, no(T + 6))[0] is Judgement.FAIL_CLOSED  # still running
    assert w.judge_session("IsRevoked", s, True, no(T + 6))[0] is Judgement.UNEXPECTED  # not an RPC it touches
    window.end = T + 7
    assert w.judge_session("VerifySession", s, True, no(T + 9.5))[0] is Judgement.FAIL_CLOSED  # within the grace
    assert w.judge_session("VerifySession", s, True, no(T + 10.5))[0] is Judgement.UNEXPECTED
    assert w.judge_session("VerifySession", s, True, no(T + 4.5))[0] is Judgement.UNEXPECTED  # before it


def test_tokens():
    w = world()
    w.keys["k1"] = Key("k1", published_at=0.0)
    t = SignedToken("tok", "k1", exp=T + 100)
    assert w.judge_token(t, yes(T))[0] is Judgement.OK
    assert w.judge_token(t, yes(T + 100.5))[0] is Judgement.OK  # within the leeway
    assert w.judge_token(t, yes(T + 101))[0] is Judgement.WRONG  # exp + leeway passed
    assert w.judge_token(t, no(T + 101))[0] is Judgement.OK
    assert w.judge_token(t, no(T))[0] is Judgement.UNEXPECTED
    w.keys["k1"].removed_sent, w.keys["k1"].removed_done = T + 10, T + 10.01
    assert w.judge_token(t, yes(T + 14))[0] is Judgement.OK  # the sidecar may not know yet
    assert w.judge_token(t, yes(T + 16))[0] is Judgement.WRONG
    assert w.judge_token(t, no(T + 10.005))[0] is Judgement.OK
    w.keys["k2"] = Key("k2", published_at=T + 10)
    fresh = SignedToken("tok2", "k2", exp=T + 100)
    assert w.judge_token(fresh, no(T + 12, "REASON_UNKNOWN_KEY"))[0] is Judgement.OK  # not fetched yet
    assert w.judge_token(fresh, no(T + 16, "REASON_UNKNOWN_KEY"))[0] is Judgement.UNEXPECTED
    assert w.judge_token(None, yes(T))[0] is Judgement.WRONG  # garbage


def test_one_time_tokens():
    w = world()
    o = OneTime("appr_1")
    race = w.judge_one_time("VerifyApproval", o, True, [yes(T), yes(T)])
    assert [v for v, _ in race] == [Judgement.OK, Judgement.WRONG]
    assert w.judge_one_time("VerifyApproval", o, True, [yes(T + 1)])[0][0] is Judgement.WRONG  # a later replay
    assert w.judge_one_time("VerifyApproval", o, True, [no(T + 1, "REASON_ALREADY_USED")])[0][0] is Judgement.OK
    # Nobody got in: the first refusal needs an explanation.
    assert [v for v, _ in w.judge_one_time("VerifyApproval", OneTime("appr_2"), True, [no(T), no(T + 0.1)])] == [
        Judgement.UNEXPECTED,
        Judgement.OK,
    ]
    s = Session("sess", T)
    s.ended_sent, s.ended_done = T + 1, T + 1.01
    assert w.judge_one_time("VerifyApproval", OneTime("appr_3", s), True, [no(T + 2)])[0][0] is Judgement.OK
    assert w.judge_one_time("VerifyApproval", OneTime("appr_4", s), True, [yes(T + 3)])[0][0] is Judgement.WRONG
    assert (
        w.judge_one_time("VerifyApproval", OneTime("appr_5"), False, [yes(T)])[0][0] is Judgement.WRONG
    )  # wrong phone/user
    assert w.judge_one_time("VerifyApproval", None, True, [yes(T)])[0][0] is Judgement.WRONG  # garbage
