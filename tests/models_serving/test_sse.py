"""models_serving/sse.py: the data of each Server-Sent Event, however the bytes arrive."""
from __future__ import annotations

import random

from models_serving.sse import sse_data


async def _events(*pieces: bytes) -> list[bytes]:
    async def chunks():
        for piece in pieces:
            yield piece
    return [data async for data in sse_data(chunks())]


async def test_event_stream_split_anywhere_reads_the_same():
    """Lines end in LF, CRLF or CR; events end at a blank line; comments and other fields are skipped;
    several data lines join with LF. However the bytes are cut into chunks, the events are the same."""
    stream = (b": keep-alive\r\n\r\ndata: {\"a\": 1}\r\n\r\nevent: x\nid: 3\ndata: one\ndata:two\n\n"
              b"data: \xc3\xb1\r\rdata: [DONE]\n\n")
    expected = [b'{"a": 1}', b"one\ntwo", "ñ".encode(), b"[DONE]"]
    assert await _events(stream) == expected
    rng = random.Random(5)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
        assert await _events(*pieces) == expected, pieces
    assert await _events(b"data: last without blank line") == [b"last without blank line"]
