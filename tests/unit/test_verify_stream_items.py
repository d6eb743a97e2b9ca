"""VerifyStream's per-stream bookkeeping when a stream ends: every admitted item gives its place back.

The end-to-end behaviour (answers, limits, cancellation against a real sidecar) is in
tests/e2e/test_verify_stream.py; this pins the one case a real stream hits only by a race: the
stream ends in the same loop turn the item was read, before its task ever ran.
"""

from __future__ import annotations

import asyncio
import gc

from authsidecar.v1 import auth_pb2 as pb
from sidecar.api.rpc import InFlight
from sidecar.api.verify_stream import _Stream
from sidecar.observability import tracing


def _item(n: int) -> pb.VerifyStreamRequest:
    return pb.VerifyStreamRequest(id=n, verify_token=pb.VerifyTokenRequest(token="t"))


async def test_items_cancelled_before_their_first_step_give_back_their_in_flight_place():
    started = []

    async def answer(request):
        started.append(request)
        await asyncio.sleep(30)

    inflight = InFlight(10)
    stream = _Stream({"verify_token": answer}, inflight, 16, 0.0)
    for n in (1, 2, 3):
        stream.unanswered += 1
        stream.start(_item(n))
    assert inflight.current == 3 and stream.evaluating == 3
    stream.close()  # same loop turn: no item task has run yet
    await asyncio.sleep(0.01)
    assert started == []
    assert (inflight.current, stream.evaluating, len(stream.tasks)) == (0, 0, 0)


async def test_items_cancelled_while_waiting_give_back_their_place_once():
    gate = asyncio.Event()

    async def answer(request):
        await gate.wait()

    inflight = InFlight(10)
    stream = _Stream({"verify_token": answer}, inflight, 16, 0.0)
    for n in (1, 2):
        stream.unanswered += 1
        stream.start(_item(n))
    await asyncio.sleep(0.01)  # both items are now waiting on the gate
    stream.close()
    await asyncio.sleep(0.01)
    assert (inflight.current, stream.evaluating, len(stream.tasks)) == (0, 0, 0)


async def test_with_tracing_on_an_item_cancelled_before_its_first_step_leaves_no_unawaited_coroutine(
    monkeypatch, recwarn
):
    async def answer(request):
        await asyncio.sleep(30)

    monkeypatch.setattr(tracing, "ENABLED", True)  # each item's task is then the span wrapper around it
    inflight = InFlight(10)
    stream = _Stream({"verify_token": answer}, inflight, 16, 0.0)
    stream.unanswered += 1
    stream.start(_item(1))
    stream.close()
    await asyncio.sleep(0.01)
    gc.collect()
    assert inflight.current == 0
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
