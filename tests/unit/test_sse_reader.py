"""The bounded event-stream reader: the WHATWG line and field rules, and every bound holding."""

from __future__ import annotations

import httpx
import pytest

from sidecar.upstream.sse_reader import MAX_EVENT_ID_CHARS, StreamTooLarge, bounded_sse


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


async def events(chunks: list[bytes], max_line: int = 1024, max_event: int = 4096) -> list[tuple]:
    response = httpx.Response(200, stream=Chunks(chunks))
    return [(e.event, e.data, e.id, e.retry) async for e in bounded_sse(response, max_line, max_event)]


async def test_line_ends_of_every_kind_even_split_across_chunks():
    got = await events([b"event: a\r", b"\ndata: 1\r\n\r", b"\nevent: b\rdata: 2\r\r", b"data: 3\n", b"\n"])
    assert got == [("a", "1", "", None), ("b", "2", "", None), ("message", "3", "", None)]


async def test_fields_comments_multiline_data_and_retry():
    got = await events([b": hi\nid: 7\nretry: 1500\ndata: x\ndata:y\nfoo: bar\n\ndata: z\n\n"])
    assert got == [("message", "x\ny", "7", 1500), ("message", "z", "7", None)]  # the id carries over


@pytest.mark.parametrize("bad", ["caf\u00e9", "a\x01b", "9" * (MAX_EVENT_ID_CHARS + 1)])
async def test_an_unusable_id_is_ignored_and_the_last_good_one_kept(bad):
    got = await events([b"id: 1\ndata: a\n\n", f"id: {bad}\ndata: b\n\n".encode()])
    assert got == [("message", "a", "1", None), ("message", "b", "1", None)]


async def test_an_unterminated_line_past_the_bound_ends_the_stream_without_buffering_it():
    with pytest.raises(StreamTooLarge):
        await events([b"data: "] + [b"x" * 512] * 10_000, max_line=1024)


async def test_a_long_line_inside_one_chunk_is_refused_too():
    with pytest.raises(StreamTooLarge):
        await events([b"data: " + b"x" * 2000 + b"\n\n"], max_line=1024)


async def test_an_event_of_many_short_lines_past_the_bound_is_refused():
    with pytest.raises(StreamTooLarge):
        await events([b"data: " + b"x" * 100 + b"\n"] * 100, max_event=4096)


async def test_heartbeats_and_comments_never_add_up_to_an_event():
    got = await events([b": keepalive\n"] * 1000 + [b"event: heartbeat\ndata: {}\n\n"] * 100, max_event=512)
    assert len(got) == 100
