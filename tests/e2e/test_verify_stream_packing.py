"""VerifyStream packing (issue 30): several items per request message and several answers per answer
message, against a real sidecar process and the emulator; every wait bounded."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import code_pb2

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc

PHONE = "+14155552671"
STATUS_PATH = "/v2/backend/session/status"
STREAM = "/authsidecar.v1.AuthService/VerifyStream"
READ_TIMEOUT = 10.0


def mint(emulator, **req) -> str:
    reply = emulator.http.post("/_control/jwks/issuers/main/mint", json=req)
    reply.raise_for_status()
    return reply.json()["token"]


def new_session(emulator) -> str:
    resp = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE})
    resp.raise_for_status()
    return resp.json()["session_token"]


def token_item(item_id: int, token: str) -> pb.VerifyStreamRequest:
    return pb.VerifyStreamRequest(id=item_id, verify_token=pb.VerifyTokenRequest(token=token))


def raw_stream(channel: grpc.aio.Channel):
    """A VerifyStream written as bytes (to send what a well-behaved stub would not) and read as messages."""
    method = channel.stream_stream(
        STREAM, request_serializer=None, response_deserializer=pb.VerifyStreamResponse.FromString
    )
    return method(timeout=60)


def packed(*items: bytes) -> bytes:
    """A packed request message: each item's bytes as field 30."""
    out = b""
    for item in items:
        out += b"\xf2\x01" + _varint(len(item)) + item
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


async def answers_for(call, ids: set[int]) -> tuple[dict[int, pb.VerifyStreamResponse], int]:
    """Read until every id in `ids` is answered: the answers by id, and how many messages carried them."""
    got: dict[int, pb.VerifyStreamResponse] = {}
    messages = 0
    while not ids <= got.keys():
        message = await asyncio.wait_for(call.read(), READ_TIMEOUT)
        assert message is not grpc.aio.EOF, f"the stream ended with {sorted(ids - got.keys())} unanswered"
        messages += 1
        for answer in message.answers or (message,):
            assert answer.id not in got, f"item {answer.id} answered twice"
            got[answer.id] = answer
    return got, messages


def result(answer: pb.VerifyStreamResponse):
    """The answer, less where it came from (the second asker of a token gets it from the cache)."""
    kind = answer.WhichOneof("result")
    value = type(getattr(answer, kind))()
    value.CopyFrom(getattr(answer, kind))
    if kind in ("verify_token", "verify_session"):
        value.ClearField("source")
    return kind, value


async def test_packed_and_unpacked_callers_get_the_same_answers(sidecar, emulator):
    tokens = [mint(emulator, claims={"sub": f"user-{i}"}) for i in range(20)]
    session = new_session(emulator)
    items = [token_item(i + 1, t) for i, t in enumerate(tokens)]
    items.append(token_item(21, "not.a.token"))
    items.append(
        pb.VerifyStreamRequest(id=22, verify_session=pb.VerifySessionRequest(session_token=session, phone=PHONE))
    )
    items.append(
        pb.VerifyStreamRequest(id=23, verify_session=pb.VerifySessionRequest(session_token=session, phone="x"))
    )
    ids = {item.id for item in items}
    async with grpc.aio.insecure_channel(sidecar.target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        plain, packer = stub.VerifyStream(timeout=60), stub.VerifyStream(timeout=60)
        # The sidecar says, as soon as it admits a stream, how many items one message may carry.
        for call in (plain, packer):
            metadata = await asyncio.wait_for(call.initial_metadata(), READ_TIMEOUT)
            assert dict(metadata)["authsidecar-stream-packing"] == "128"
        for item in items:
            await plain.write(item)
        await packer.write(pb.VerifyStreamRequest(items=items))
        one_by_one, plain_messages = await answers_for(plain, ids)
        together, _ = await answers_for(packer, ids)
        # A caller that never packed gets one answer per message, as before packing existed.
        assert plain_messages == len(ids)
        assert {i: result(a) for i, a in together.items()} == {i: result(a) for i, a in one_by_one.items()}
        assert together[1].verify_token.valid and together[1].verify_token.auth.subject == "user-0"
        assert together[21].verify_token.reason == pb.REASON_MALFORMED
        assert together[22].verify_session.valid
        assert together[23].error.code == code_pb2.INVALID_ARGUMENT and together[23].error.message.startswith("phone:")
        # The packing caller gets packed answers when several are ready at once (a second round, all cached).
        await packer.write(pb.VerifyStreamRequest(items=[token_item(100 + i, t) for i, t in enumerate(tokens)]))
        again, messages = await answers_for(packer, {100 + i for i in range(20)})
        assert all(a.verify_token.valid for a in again.values())
        assert messages < 20
        for call in (plain, packer):
            await call.done_writing()
            assert await asyncio.wait_for(call.code(), READ_TIMEOUT) == grpc.StatusCode.OK
    # Metrics count items under their own method, packed or not.
    assert sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == 20 + 20 + 20


async def test_a_packed_message_over_the_item_limit_gets_per_item_errors(sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_stream_items_in_flight": 4}})
    token = mint(emulator)
    async with grpc.aio.insecure_channel(sc.target) as channel:
        call = auth_pb2_grpc.AuthServiceStub(channel).VerifyStream(timeout=60)
        assert dict(await asyncio.wait_for(call.initial_metadata(), READ_TIMEOUT))["authsidecar-stream-packing"] == "4"
        await call.write(pb.VerifyStreamRequest(items=[token_item(i, token) for i in range(1, 11)]))
        got, _ = await answers_for(call, set(range(1, 11)))
        assert all(got[i].verify_token.valid for i in range(1, 5))
        for i in range(5, 11):
            assert got[i].error.code == code_pb2.RESOURCE_EXHAUSTED
            assert got[i].error.message == "items: more than 4 in one message (limits.verify_stream_items_in_flight)"
        # The stream goes on.
        await call.write(token_item(11, token))
        assert (await answers_for(call, {11}))[0][11].verify_token.valid
        call.cancel()


async def test_each_packed_item_is_decoded_and_refused_on_its_own(sidecar, emulator):
    token = mint(emulator)
    good = token_item(1, token).SerializeToString()
    bad_utf8 = b"\x08\x02" + b"\x52\x05" + b"\x0a\x03\xff\xfe\xfd"  # id 2, verify_token.token: invalid UTF-8
    nested = pb.VerifyStreamRequest(id=3, items=[token_item(4, token)]).SerializeToString()
    no_check = pb.VerifyStreamRequest(id=5).SerializeToString()
    async with grpc.aio.insecure_channel(sidecar.target) as channel:
        call = raw_stream(channel)
        await call.write(packed(good, bad_utf8, nested, no_check))
        got, _ = await answers_for(call, {1, 2, 3, 5})
        assert got[1].verify_token.valid
        assert got[2].error.code == code_pb2.INVALID_ARGUMENT and got[2].error.message.startswith("item:")
        assert got[3].error.code == code_pb2.INVALID_ARGUMENT and got[3].error.message.startswith("items:")
        assert got[5].error.code == code_pb2.INVALID_ARGUMENT and got[5].error.message.startswith("check:")
        # A message with items and a question of its own: its own id is refused, its items answered.
        await call.write(
            pb.VerifyStreamRequest(id=9, verify_token=pb.VerifyTokenRequest(token=token)).SerializeToString()
            + packed(good.replace(b"\x08\x01", b"\x08\x0a", 1))
        )
        got, _ = await answers_for(call, {9, 10})
        assert got[9].error.code == code_pb2.INVALID_ARGUMENT and got[9].error.message.startswith("items:")
        assert got[10].verify_token.valid
        # A truncated packed message: the items before the cut are answered, the rest refused once (id 0).
        await call.write(packed(token_item(20, token).SerializeToString()) + b"\xf2\x01\x7f\x08")
        got, _ = await answers_for(call, {20, 0})
        assert got[20].verify_token.valid and got[0].error.code == code_pb2.INVALID_ARGUMENT
        # Answers never come twice, and the stream is still usable.
        await call.write(token_item(30, token).SerializeToString())
        assert (await answers_for(call, {30}))[0][30].verify_token.valid
        call.cancel()


async def test_back_pressure_counts_packed_items_not_messages(sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_stream_items_in_flight": 4}})
    token = mint(emulator)
    sessions = [new_session(emulator) for _ in range(4)]
    emulator.faults(latency_seconds=1.0, path_prefix=STATUS_PATH)
    slow = [
        pb.VerifyStreamRequest(id=i + 1, verify_session=pb.VerifySessionRequest(session_token=s, phone=PHONE))
        for i, s in enumerate(sessions)
    ]
    async with grpc.aio.insecure_channel(sc.target) as channel:
        call = auth_pb2_grpc.AuthServiceStub(channel).VerifyStream(timeout=60)
        await call.write(pb.VerifyStreamRequest(items=slow))
        await call.write(pb.VerifyStreamRequest(items=[token_item(10 + i, token) for i in range(4)]))
        order: list[int] = []
        while len(order) < 8:
            message = await asyncio.wait_for(call.read(), READ_TIMEOUT)
            assert message is not grpc.aio.EOF
            order += [a.id for a in message.answers or (message,)]
        # Four slow items fill the stream's room: no token item starts until a slow one has been
        # answered, however they were packed (counted as one message, all four would start at once and
        # be answered first). Once a place is free, the token items may pass through it one after
        # another (each answered and sent before the next starts: never more than four unanswered),
        # so how they interleave with the other slow answers is timing, not a property.
        assert sorted(order) == [1, 2, 3, 4, 10, 11, 12, 13]
        assert order[0] < 10, order
        call.cancel()
