"""Issue 24 row 12: the id of a VerifyStream item that does not decode, read from its wire bytes."""

from __future__ import annotations

from authsidecar.v1 import auth_pb2 as pb
from sidecar.api.verify_stream import item_id


def test_row12_item_id_of_an_undecodable_item():
    good = pb.VerifyStreamRequest(id=2**64 - 1, verify_token=pb.VerifyTokenRequest(token="t")).SerializeToString()
    assert item_id(good) == 2**64 - 1
    # invalid UTF-8 in verify_token.token, the id after it: the nested field is skipped, the id found
    assert item_id(b"\x52\x04\x0a\x02\xff\xfe" + b"\x08\x2a") == 42
    # a fixed32/fixed64 unknown field before the id is skipped too
    assert item_id(b"\x7d\x00\x00\x00\x00" + b"\x79" + b"\x00" * 8 + b"\x08\x07") == 7


def test_row12_item_id_is_zero_when_the_id_cannot_be_read():
    for raw in (b"", b"\xff\xff\xff", b"\x08", b"\x08\xff", b"\x52\x7f", b"\x0b\x08\x05", b"\x80" * 20 + b"\x01"):
        assert item_id(raw) == 0, raw
