"""AuthService.VerifyStream against a real sidecar process and the emulator over loopback.

Each test opens grpc.aio streams to the sidecar and writes/reads items itself; every wait is bounded
(asyncio.wait_for / the read deadline) so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from harness.processes import wait_until

PHONE = "+14155552671"
STATUS_PATH = "/v2/backend/session/status"
FAST_SSE = {
    "platform": {"sse": {"heartbeat_timeout_seconds": 3.0, "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.5}}
}
READ_TIMEOUT = 10.0


def new_session(emulator) -> str:
    resp = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE})
    resp.raise_for_status()
    return resp.json()["session_token"]


def mint(emulator, name: str = "main", **req) -> str:
    reply = emulator.http.post(f"/_control/jwks/issuers/{name}/mint", json=req)
    reply.raise_for_status()
    return reply.json()["token"]


def token_item(item_id: int, token: str, **extra) -> pb.VerifyStreamRequest:
    return pb.VerifyStreamRequest(id=item_id, verify_token=pb.VerifyTokenRequest(token=token), **extra)


def session_item(item_id: int, token: str, phone: str = PHONE, **extra) -> pb.VerifyStreamRequest:
    return pb.VerifyStreamRequest(
        id=item_id, verify_session=pb.VerifySessionRequest(session_token=token, phone=phone), **extra
    )


def seconds(value: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(int(value * 1000))
    return d


async def read(call, timeout: float = READ_TIMEOUT) -> pb.VerifyStreamResponse:
    response = await asyncio.wait_for(call.read(), timeout)
    assert response is not grpc.aio.EOF, "the stream ended before the answer"
    return response


@pytest.fixture
async def channel(sidecar_factory):
    sc = sidecar_factory(FAST_SSE)
    wait_until(lambda: sc.metric("authsidecar_sse_connected") == 1)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        ch.sidecar = sc
        yield ch


def open_stream(channel, timeout: float = 60.0):
    return auth_pb2_grpc.AuthServiceStub(channel).VerifyStream(timeout=timeout)


async def test_each_answer_echoes_its_id_and_matches_the_unary_answer(channel, emulator):
    sc = channel.sidecar
    token, session = mint(emulator), new_session(emulator)
    call = open_stream(channel)
    await call.write(token_item(7, token))
    await call.write(session_item(7, session))  # duplicate ids are answered each
    await call.write(
        pb.VerifyStreamRequest(id=2**64 - 1, is_revoked=pb.IsRevokedRequest(session_token=session, phone=PHONE))
    )
    await call.write(
        pb.VerifyStreamRequest(id=0, get_session_status=pb.GetSessionStatusRequest(session_token=session, phone=PHONE))
    )
    await call.done_writing()
    answers = [await read(call) for _ in range(4)]
    assert await asyncio.wait_for(call.read(), READ_TIMEOUT) is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
    by_kind = {a.WhichOneof("result"): a for a in answers}
    assert set(by_kind) == {"verify_token", "verify_session", "is_revoked", "get_session_status"}
    assert by_kind["verify_token"].id == 7 and by_kind["verify_token"].verify_token.valid
    assert by_kind["verify_token"].verify_token.auth.subject
    assert by_kind["verify_session"].id == 7 and by_kind["verify_session"].verify_session.valid
    assert by_kind["is_revoked"].id == 2**64 - 1 and not by_kind["is_revoked"].is_revoked.revoked
    assert by_kind["get_session_status"].get_session_status.status == pb.SESSION_STATUS_VERIFIED
    unary = sc.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=5)
    assert unary.valid == by_kind["verify_session"].verify_session.valid
    # Items are counted under their own method, the stream once when it ends.
    assert sc.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == 1
    assert sc.metric("authsidecar_rpc_total", method="IsRevoked", outcome="not_revoked") == 1
    assert sc.metric("authsidecar_rpc_duration_seconds_count", method="GetSessionStatus") == 1
    wait_until(lambda: sc.metric("authsidecar_rpc_total", method="VerifyStream", outcome="ok") == 1)
    assert sc.metric("authsidecar_verify_streams_open") == 0


async def test_a_bad_item_gets_invalid_argument_naming_the_field_and_the_stream_goes_on(channel, emulator):
    token = mint(emulator)
    call = open_stream(channel)
    await call.write(session_item(1, new_session(emulator), phone="not a phone"))
    await call.write(pb.VerifyStreamRequest(id=2))  # no question at all
    await call.write(token_item(3, ""))
    await call.write(token_item(4, token))
    await call.write(token_item(5, token, timeout=Duration(seconds=-1)))
    answers = {a.id: a for a in [await read(call) for _ in range(5)]}
    assert answers[1].error.code == code_pb2.INVALID_ARGUMENT and answers[1].error.message.startswith("phone:")
    assert answers[2].error.code == code_pb2.INVALID_ARGUMENT and answers[2].error.message.startswith("check:")
    assert answers[3].error.code == code_pb2.INVALID_ARGUMENT and answers[3].error.message.startswith("token:")
    assert answers[4].verify_token.valid
    assert answers[5].error.code == code_pb2.INVALID_ARGUMENT and answers[5].error.message.startswith("timeout:")
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK
    assert channel.sidecar.metric("authsidecar_rpc_total", method="VerifySession", outcome="invalid_argument") == 1


async def test_a_cached_answer_is_not_held_behind_an_item_waiting_on_the_platform(channel, emulator):
    token = mint(emulator)
    call = open_stream(channel)
    await call.write(token_item(1, token))
    assert (await read(call)).verify_token.valid  # now in the verified-token cache
    emulator.faults(latency_seconds=1.5, path_prefix=STATUS_PATH)
    started = time.monotonic()
    await call.write(session_item(2, new_session(emulator)))  # unknown to the sidecar: asks the platform
    await call.write(token_item(3, token))
    first = await read(call)
    assert first.id == 3 and first.verify_token.source == pb.SOURCE_CACHE
    assert time.monotonic() - started < 1.0, "the cached answer waited for the slow one"
    second = await read(call)
    assert second.id == 2 and second.verify_session.valid
    assert time.monotonic() - started >= 1.4
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_per_item_timeout_answers_deadline_exceeded_and_abandons_the_upstream_request(sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_stream_item_timeout_seconds": 0.8}})
    token = mint(emulator)
    emulator.faults(latency_seconds=3.0, path_prefix=STATUS_PATH)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        call = open_stream(ch)
        started = time.monotonic()
        await call.write(session_item(1, new_session(emulator), timeout=seconds(0.3)))  # its own, shorter
        await call.write(session_item(2, new_session(emulator)))  # the sidecar's 0.8 s
        await call.write(token_item(3, token))
        answers = {}
        for _ in range(3):
            a = await read(call)
            answers[a.id] = (a, time.monotonic() - started)
        assert answers[3][0].verify_token.valid and answers[3][1] < 0.3
        assert answers[1][0].error.code == code_pb2.DEADLINE_EXCEEDED and 0.25 <= answers[1][1] < 0.8
        assert answers[2][0].error.code == code_pb2.DEADLINE_EXCEEDED and 0.75 <= answers[2][1] < 2.5
        await call.done_writing()
        assert await call.code() == grpc.StatusCode.OK
    assert sc.metric("authsidecar_rpc_total", method="VerifySession", outcome="deadline_exceeded") == 2
    assert sc.metric("authsidecar_rpc_in_flight") == 0
    assert sc.metric("authsidecar_verify_stream_items_in_flight") == 0


async def test_cancelling_the_stream_ends_its_pending_upstream_work(channel, emulator):
    sc = channel.sidecar
    emulator.faults(latency_seconds=5.0, path_prefix=STATUS_PATH)
    call = open_stream(channel)
    for i in range(5):
        await call.write(session_item(i, new_session(emulator)))
    wait_until(lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 5, what="5 items in flight")
    call.cancel()
    wait_until(
        lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 0, timeout=2, what="pending items abandoned"
    )
    assert sc.metric("authsidecar_rpc_total", method="VerifySession", outcome="cancelled") == 5
    wait_until(lambda: sc.metric("authsidecar_rpc_total", method="VerifyStream", outcome="cancelled") == 1)
    assert sc.metric("authsidecar_verify_streams_open") == 0 and sc.metric("authsidecar_rpc_in_flight") == 0


async def test_the_streams_deadline_ends_it_and_its_pending_work(channel, emulator):
    sc = channel.sidecar
    emulator.faults(latency_seconds=5.0, path_prefix=STATUS_PATH)
    call = open_stream(channel, timeout=0.5)
    await call.write(session_item(1, new_session(emulator)))
    assert await asyncio.wait_for(call.code(), READ_TIMEOUT) == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until(lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 0, timeout=2)
    assert sc.metric("authsidecar_rpc_total", method="VerifySession", outcome="cancelled") == 1


async def test_a_caller_that_never_reads_stalls_only_its_own_stream(sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_stream_items_in_flight": 16}})
    big = mint(emulator, claims={"blob": "x" * 4000})  # ~4 KB answers fill its window quickly
    small = mint(emulator)
    async with grpc.aio.insecure_channel(sc.target) as stalled_ch, grpc.aio.insecure_channel(sc.target) as other_ch:
        stalled = open_stream(stalled_ch)
        written, pending = 0, None
        while written < 20_000:
            write = asyncio.ensure_future(stalled.write(token_item(written, big)))
            written += 1
            done, _ = await asyncio.wait({write}, timeout=1.0)  # not cancelled: that would end the call
            if not done:
                pending = write
                break
            write.result()
        assert pending is not None, f"{written} items written to a stream whose caller never reads: no back-pressure"
        # The sidecar stopped reading that stream: nothing of it is being evaluated, nothing piles up.
        assert sc.metric("authsidecar_verify_stream_items_in_flight") == 0
        other = open_stream(other_ch)
        started = time.monotonic()
        for i in range(200):
            await other.write(token_item(i, small))
            assert (await read(other, timeout=2.0)).verify_token.valid
        assert time.monotonic() - started < 5.0
        assert sc.stub.VerifyToken(pb.VerifyTokenRequest(token=small), timeout=2).valid  # unary too
        await other.done_writing()
        assert await other.code() == grpc.StatusCode.OK
        # The stalled caller reads again: its waiting write goes through, every item is answered exactly once.
        ids = [(await read(stalled)).id for _ in range(written)]
        await asyncio.wait_for(pending, READ_TIMEOUT)
        await stalled.done_writing()
        assert await asyncio.wait_for(stalled.read(), READ_TIMEOUT) is grpc.aio.EOF
        assert sorted(ids) == list(range(written)) and await stalled.code() == grpc.StatusCode.OK


async def test_many_concurrent_streams_each_get_their_own_answers(channel, emulator):
    tokens = [mint(emulator, claims={"sub": f"user-{i}"}) for i in range(10)]

    async def one_stream(k: int) -> None:
        call = open_stream(channel)

        async def write_all() -> None:
            for i in range(40):
                await call.write(token_item(k * 1000 + i, tokens[(k + i) % len(tokens)]))
            await call.done_writing()

        writer = asyncio.ensure_future(write_all())
        seen = {}
        async for answer in call:
            seen[answer.id] = answer.verify_token.auth.subject
        await writer
        assert await call.code() == grpc.StatusCode.OK
        assert seen == {k * 1000 + i: f"user-{(k + i) % len(tokens)}" for i in range(40)}

    await asyncio.wait_for(asyncio.gather(*(one_stream(k) for k in range(50))), 60)
    assert channel.sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == 2000


async def test_open_streams_are_limited_and_a_closed_one_frees_its_place(sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_streams_max": 2}})
    token = mint(emulator)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        first, second = open_stream(ch), open_stream(ch)
        for call in (first, second):
            await call.write(token_item(1, token))
            assert (await read(call)).verify_token.valid
        third = open_stream(ch)
        assert await asyncio.wait_for(third.code(), READ_TIMEOUT) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "VerifyStream" in await third.details()
        assert sc.metric("authsidecar_rpc_total", method="VerifyStream", outcome="shed") == 1
        await first.done_writing()
        assert await first.code() == grpc.StatusCode.OK
        wait_until(lambda: sc.metric("authsidecar_verify_streams_open") == 1)
        fourth = open_stream(ch)
        await fourth.write(token_item(4, token))
        assert (await read(fourth)).verify_token.valid
        for call in (second, fourth):
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK


async def test_items_in_flight_are_bounded_per_stream_and_process_wide_on_a_budget_of_their_own(
    sidecar_factory, emulator
):
    sc = sidecar_factory(
        {"limits": {"verify_stream_items_in_flight": 2, "verify_stream_items_max": 3, "max_in_flight": 1}}
    )
    token = mint(emulator)
    emulator.faults(latency_seconds=1.0, path_prefix=STATUS_PATH)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        # Per stream: 4 slow items written, only 2 read and evaluated at a time (the rest wait unread).
        call = open_stream(ch)
        for i in range(4):
            await call.write(session_item(i, new_session(emulator)))
        wait_until(lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 2)
        other = open_stream(ch)
        await other.write(session_item(10, new_session(emulator)))
        wait_until(lambda: sc.metric("authsidecar_rpc_in_flight") == 3)
        # Process-wide: verify_stream_items_max is spent (3 items); a 4th item is refused, its stream goes on.
        await other.write(token_item(11, token))
        refused = await read(other)
        assert refused.id == 11 and refused.error.code == code_pb2.RESOURCE_EXHAUSTED
        assert refused.error.message == "too many stream items in flight (limits.verify_stream_items_max)"
        # Items never spend the unary budget: with max_in_flight 1 a unary call is still answered.
        assert sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=2).valid
        answers = [await read(call) for _ in range(4)] + [await read(other)]
        assert all(a.verify_session.valid for a in answers)
        await other.write(token_item(12, token))  # room again
        assert (await read(other)).verify_token.valid
        for c in (call, other):
            await c.done_writing()
            assert await c.code() == grpc.StatusCode.OK
    assert sc.metric("authsidecar_rpc_shed_total") == 1
    assert sc.metric("authsidecar_rpc_total", method="VerifyToken", outcome="shed") == 1


async def test_sigterm_lets_pending_items_finish_then_ends_streams_with_unavailable(sidecar_factory, emulator):
    sc = sidecar_factory({"shutdown_grace_seconds": 5})
    token = mint(emulator)
    emulator.faults(latency_seconds=1.0, path_prefix=STATUS_PATH)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        idle, busy = open_stream(ch), open_stream(ch)
        for call in (idle, busy):
            await call.write(token_item(1, token))
            assert (await read(call)).verify_token.valid
        await busy.write(session_item(2, new_session(emulator)))
        wait_until(lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 1)
        started = time.monotonic()
        sc.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(idle.code(), READ_TIMEOUT) == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 0.9, "an idle stream should end at once"
        answer = await read(busy)
        assert answer.id == 2 and answer.verify_session.valid  # answered within the grace period
        assert await asyncio.wait_for(busy.code(), READ_TIMEOUT) == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in await busy.details()
    assert sc.proc.wait(10) == 0


async def test_sigterm_ends_a_stream_with_unavailable_when_the_grace_period_runs_out(sidecar_factory, emulator):
    sc = sidecar_factory({"shutdown_grace_seconds": 1.0})
    emulator.faults(latency_seconds=3.0, path_prefix=STATUS_PATH)
    async with grpc.aio.insecure_channel(sc.target) as ch:
        call = open_stream(ch)
        await call.write(session_item(1, new_session(emulator)))
        wait_until(lambda: sc.metric("authsidecar_verify_stream_items_in_flight") == 1)
        started = time.monotonic()
        sc.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(call.code(), READ_TIMEOUT) == grpc.StatusCode.UNAVAILABLE
        assert 0.5 <= time.monotonic() - started < 1.5
    assert sc.proc.wait(10) == 0
