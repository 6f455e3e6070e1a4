"""The /models listing of an OpenAI-compatible endpoint, and the event-stream reading of chat completions
(the arena's consumer tests exercise streaming end to end)."""
from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import pytest

from models_serving import client
from models_serving.client import Endpoint, EndpointError, ListingError, StreamStats, listed_models, stream_chat


def test_listed_models(listing_openai, monkeypatch):
    assert "echo-alpha" in listed_models(Endpoint(base_url=listing_openai.base_url, served_name="echo-alpha"))
    with pytest.raises(EndpointError, match="ARENA_MODEL_KEY_TEST_UNSET is not set"):
        listed_models(Endpoint(base_url=listing_openai.base_url, served_name="x",
                               api_key_env="ARENA_MODEL_KEY_TEST_UNSET"))
    monkeypatch.setenv("ARENA_MODEL_KEY_TEST", "right")
    listing_openai.required_key = "right"
    try:
        with pytest.raises(ListingError) as refused:
            listed_models(Endpoint(base_url=listing_openai.base_url, served_name="x"))
        assert refused.value.status_code == 401
        assert listed_models(Endpoint(base_url=listing_openai.base_url, served_name="x",
                                      api_key_env="ARENA_MODEL_KEY_TEST"))
    finally:
        listing_openai.required_key = None
    with pytest.raises(ListingError, match="unreachable") as unreachable:
        listed_models(Endpoint(base_url="http://127.0.0.1:9/v1", served_name="x"))
    assert unreachable.value.status_code is None


async def test_every_upstream_client_shares_the_one_tls_context():
    """Building a TLS context loads the CA bundle (CPU on the event loop): it is built once, at import."""
    from models_serving import client

    first = client._client(client.Endpoint("http://127.0.0.1:9/v1", "a"), 5.0)
    second = client._client(client.Endpoint("https://arena.example.eus/v1", "b"), 5.0)
    assert first is not second
    assert client._client(client.Endpoint("http://127.0.0.1:9/v1", "c"), 5.0) is first  # one pool per endpoint
    for upstream in (first, second):
        assert upstream.session.connector._ssl is client._TLS
    await client.close_clients()  # what the ASGI server's shutdown calls
    assert first.is_closed and second.is_closed
    assert client._client(client.Endpoint("http://127.0.0.1:9/v1", "a"), 5.0) is not first
    await client.close_clients()


@contextlib.asynccontextmanager
async def raw_upstream(body: bytes, status: str = "200 OK", *, pause_after: int | None = None, at_once=False,
                       pause: bytes = b""):
    """An HTTP server on 127.0.0.1 that answers every request with ``body`` (chunked, as vLLM streams;
    ``at_once``: in one write, with its length) and then closes the connection without saying so.
    ``pause_after`` events it waits 30 s, sending ``pause`` every 50 ms meanwhile if given."""
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        if at_once:
            writer.write(f"HTTP/1.1 {status}\r\ncontent-type: text/event-stream\r\n"
                         f"content-length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            writer.close()
            return
        writer.write(f"HTTP/1.1 {status}\r\ncontent-type: text/event-stream\r\n"
                     "transfer-encoding: chunked\r\n\r\n".encode())
        for index, line in enumerate(body.split(b"\n\n")):
            if not line:
                continue
            piece = line + b"\n\n"
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            if pause_after is not None and index + 1 == pause_after:
                for _ in range(600 if pause else 1):
                    if pause:
                        writer.write(f"{len(pause):x}\r\n".encode() + pause + b"\r\n")
                        await writer.drain()
                    await asyncio.sleep(0.05 if pause else 30)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Endpoint(base_url=f"http://127.0.0.1:{port}/v1", served_name="raw")
    finally:
        server.close()
        await client.close_clients()


def chunk(text=None, finish=None, usage=None) -> bytes:
    event = {"choices": [{"index": 0, "delta": {"content": text} if text is not None else {},
                          "finish_reason": finish}]}
    if usage is not None:
        event = {"choices": [], "usage": {"completion_tokens": usage}}
    return b"data: " + orjson.dumps(event) + b"\n\n"


async def collect(endpoint, **kwargs) -> tuple[list[str], StreamStats]:
    stats = StreamStats()
    deltas = [d async for d in stream_chat(endpoint, [{"role": "user", "content": "Kaixo"}], temperature=0.7,
                                           top_p=1.0, max_tokens=50, stats=stats, retries=0, **kwargs)]
    return deltas, stats


async def test_a_stream_is_read_with_its_usage_and_finish_reason():
    body = chunk("Kaixo") + chunk(" lagun") + chunk(None, "stop") + chunk(usage=7) + b"data: [DONE]\n\n"
    async with raw_upstream(body) as endpoint:
        deltas, stats = await collect(endpoint)
    assert deltas == ["Kaixo", " lagun"]
    assert (stats.text, stats.finish_reason, stats.token_count) == ("Kaixo lagun", "stop", 7)


async def test_an_error_event_mid_stream_ends_it_with_the_servers_message():
    body = chunk("Hasi") + b'data: {"error": {"message": "engine dead", "code": 500}}\n\n'
    async with raw_upstream(body) as endpoint:
        with pytest.raises(EndpointError, match="engine dead") as failed:
            await collect(endpoint)
    assert failed.value.before_first_token is False


async def test_an_http_error_status_says_what_the_server_said():
    async with raw_upstream(b'{"error": {"message": "no such model"}}', "404 Not Found") as endpoint:
        with pytest.raises(EndpointError, match="HTTP 404: no such model") as failed:
            await collect(endpoint)
    assert failed.value.before_first_token is True


async def test_control_characters_in_an_answer_never_reach_the_caller():
    """PostgreSQL refuses a NUL in text: one in an answer failed the turn's storage (tiny vLLM models emit them)."""
    body = chunk("Kaixo\x00 ") + chunk("\x00") + chunk("mundua\x05\n") + chunk(None, "stop") + b"data: [DONE]\n\n"
    async with raw_upstream(body) as endpoint:
        deltas, stats = await collect(endpoint)
    assert deltas == ["Kaixo ", "mundua\n"] and stats.text == "Kaixo mundua\n" and stats.chunks == 2


async def test_an_error_message_quoting_the_server_is_storable():
    async with raw_upstream(b'data: {"error": {"message": "engine\\u0000 dead\\u0007"}}\n\n') as endpoint:
        with pytest.raises(EndpointError) as failed:
            await collect(endpoint)
    assert str(failed.value) == "error event: engine dead"


async def test_a_lone_surrogate_in_an_event_is_an_unreadable_event():
    async with raw_upstream(b'data: {"choices": [{"delta": {"content": "a\\ud800"}}]}\n\n') as endpoint:
        with pytest.raises(EndpointError, match="unreadable event"):
            await collect(endpoint)


async def test_garbage_instead_of_events_is_an_error_not_a_crash():
    async with raw_upstream(b"data: {not json\n\n") as endpoint:
        with pytest.raises(EndpointError, match="unreadable event"):
            await collect(endpoint)


async def test_a_pooled_connection_the_server_has_just_closed_fails_no_request():
    """A server may close a kept-alive connection right after an answer, or as it idles out, without
    saying so: the next request, sent before the close was noticed, is sent again on a new connection."""
    body = chunk("Kaixo") + chunk(None, "stop") + b"data: [DONE]\n\n"
    async with raw_upstream(body, at_once=True) as endpoint:
        for _ in range(3):
            assert (await collect(endpoint))[0] == ["Kaixo"]  # retries=0: no second try for other failures


async def test_a_silent_upstream_times_out_between_tokens():
    body = chunk("Bat") + chunk("Bi") + chunk(None, "stop")
    async with raw_upstream(body, pause_after=1) as endpoint:
        with pytest.raises(EndpointError, match="timed out") as failed:
            await collect(endpoint, token_timeout=0.3)
    assert failed.value.before_first_token is False


@pytest.mark.parametrize("keep_alive", [b": ping\n\n", chunk(None), chunk(""), chunk(usage=3)],
                         ids=["comment", "empty delta", "empty text", "usage"])
async def test_an_upstream_that_keeps_talking_without_text_times_out_between_tokens(keep_alive):
    """No timer per token: the socket's read timeout cannot see a stream that sends something (comments,
    events without text) every 50 ms but never the next token; the time since the last text does."""
    body = chunk("Bat") + chunk("Bi") + chunk(None, "stop")
    async with raw_upstream(body, pause_after=1, pause=keep_alive) as endpoint:
        started = time.monotonic()
        with pytest.raises(EndpointError, match="timed out") as failed:
            await collect(endpoint, token_timeout=0.3)
    assert failed.value.before_first_token is False and time.monotonic() - started < 5


@contextlib.asynccontextmanager
async def hanging_upstream(events: bytes):
    """An upstream that sends its headers and ``events``, then says nothing more: the test stops reading.
    Yields (endpoint, answering, hung_up): set when the headers were sent / when the client hung up
    (what makes vLLM abort the request instead of generating its answer for nobody)."""
    answering, hung_up = asyncio.Event(), asyncio.Event()

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        if events:
            writer.write(f"{len(events):x}\r\n".encode() + events + b"\r\n")
        await writer.drain()
        answering.set()
        with contextlib.suppress(OSError):
            while await reader.read(1024):  # the rest of the request body, then the client's end
                pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Endpoint(base_url=f"http://127.0.0.1:{port}/v1", served_name="hanging"), answering, hung_up
    finally:
        server.close()
        await client.close_clients()


def hanging_stream(endpoint):
    return stream_chat(endpoint, [{"role": "user", "content": "Kaixo"}], temperature=0.7, top_p=1.0,
                       max_tokens=50, first_token_timeout=30.0, token_timeout=30.0, retries=0)


async def test_a_request_cancelled_before_its_first_token_hangs_up_at_once():
    """arena/upstream.py cancels a speculative request the stored plan contradicts while it waits for
    its first token: the connection is closed then, not left open in the pool."""
    async with hanging_upstream(b"") as (endpoint, answering, hung_up):
        first = asyncio.ensure_future(anext(hanging_stream(endpoint)))
        await asyncio.wait_for(answering.wait(), 5)
        first.cancel()
        await asyncio.wait_for(hung_up.wait(), 5)
        assert first.cancelled()


@pytest.mark.parametrize("how", ["closed", "cancelled"])
async def test_a_stream_abandoned_mid_answer_hangs_up_at_once(how):
    """The volunteer leaves mid-answer: the reader closes the stream, or its task is cancelled while
    it waits for the next token."""
    async with hanging_upstream(chunk("Kaixo")) as (endpoint, _, hung_up):
        stream = hanging_stream(endpoint)
        assert await anext(stream) == "Kaixo"
        if how == "closed":
            await stream.aclose()
        else:
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        await asyncio.wait_for(hung_up.wait(), 5)
