"""Server-Sent Events, as OpenAI-compatible servers stream chat completions: the ``data`` of each event.

Parsed here, lean, rather than by the OpenAI SDK: per token the SDK built pydantic objects, the relay's
largest CPU cost per token (docs/relay.md)."""
from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The ``data`` of each Server-Sent Event in a byte stream (WHATWG rules: lines end with LF, CRLF or
    CR; an event ends at a blank line; several data lines join with LF; comments and other fields are
    ignored). Chunks may split lines and events anywhere."""
    buffer = b""
    data: list[bytes] = []
    async for chunk in chunks:
        buffer += chunk
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # maybe half of a CRLF: wait for the next chunk
                continue
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    if buffer.startswith(b"data:"):  # a last event without its blank line
        value = buffer[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)
