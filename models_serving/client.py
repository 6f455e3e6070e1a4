"""The one client of OpenAI-compatible endpoints: streaming chat completions and the ``/models`` listing.

Streaming is used by the arena's consumer, the admin's "test a model" action and the benchmarks.
Requests are retried only before the first token arrives; once text has reached a volunteer a
failure ends the stream with an error instead of silently restarting it. The listing is what the
health check, the launcher and the registration checks ask an endpoint.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import httpx
import orjson
from django.conf import settings

from models_serving.sse import sse_data
from models_serving.text import storable

# Variables the site reads for its own secrets and connections: never an endpoint's key, whatever
# MODELS_SERVING allows (a mistaken prefix or list must not send them to a server an admin chose).
SITE_SECRETS = frozenset({
    "DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
    "ARENA_EXPORT_SALT",
})


def key_env_allowed(name: str) -> bool:
    """Whether the operator allows the environment variable ``name`` to hold an endpoint's API key:
    ``MODELS_SERVING["API_KEY_ENV_PREFIX"]`` + something, or a name in ``MODELS_SERVING["API_KEY_ENVS"]``."""
    serving = settings.MODELS_SERVING
    prefix = serving["API_KEY_ENV_PREFIX"]
    by_prefix = bool(prefix) and name.startswith(prefix) and len(name) > len(prefix)
    return name not in SITE_SECRETS and (by_prefix or name in serving["API_KEY_ENVS"])


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one model; built from a ServedModel, never sent to a browser."""

    base_url: str
    served_name: str
    api_key_env: str = ""

    def api_key(self) -> str:
        if self.api_key_env:
            # Checked at use too, so an entry stored before the allow-list (or edited in the DB) cannot leak.
            if not key_env_allowed(self.api_key_env):
                raise EndpointError(f"environment variable {self.api_key_env} may not hold an API key (allowed: "
                                    f"MODELS_SERVING API_KEY_ENV_PREFIX / API_KEY_ENVS)", before_first_token=True)
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise EndpointError(f"environment variable {self.api_key_env} is not set", before_first_token=True)
            return key
        return "EMPTY"  # vLLM accepts any key unless started with --api-key


@dataclass
class StreamStats:
    ttft_ms: int | None = None
    duration_ms: int = 0
    chunks: int = 0
    completion_tokens: int | None = None
    finish_reason: str = ""
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def token_count(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.chunks


class EndpointError(RuntimeError):
    """A stream failed. The message often quotes the server, so it is made storable (it is stored)."""

    def __init__(self, message: str, *, before_first_token: bool):
        super().__init__(storable(message))
        self.before_first_token = before_first_token


class ListingError(RuntimeError):
    """``GET /models`` failed; ``status_code`` is None when the endpoint could not be reached at all."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(storable(message))
        self.status_code = status_code


def listed_models(endpoint: Endpoint, *, timeout: float = 5.0) -> set[str]:
    """The model names ``GET {base_url}/models`` lists (a vLLM server: its base and the adapters it holds).

    Raises EndpointError when the key's variable is unset, ListingError when the listing fails."""
    headers = {"Authorization": f"Bearer {endpoint.api_key()}"}
    try:
        response = httpx.get(f"{endpoint.base_url}/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ListingError(f"unreachable: {type(exc).__name__}: {exc}"[:500]) from exc
    if response.status_code != 200:
        raise ListingError(f"/v1/models answered HTTP {response.status_code}", status_code=response.status_code)
    try:
        return {item["id"] for item in response.json().get("data", [])}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ListingError("/v1/models did not answer a model list", status_code=200) from None


# Pooled upstream clients per event loop (a pool cannot cross loops), then per base URL and timeout,
# closed by ``close_clients`` at shutdown. aiohttp, not httpx, for the streams: httpcore's reads (anyio
# cancel scopes each) were ~20 % of a worker's CPU at 200 battles (bench/upstream_client_bench.py).
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()
# One TLS context for every upstream client, built at import: building one loads the CA bundle (~30 ms
# of CPU), which ran on the event loop inside a process's first battle (bench/relay_timeline.py: side
# B's request started 73 ms late). httpx's: the streams trust the CAs the listing trusts.
_TLS = httpx.create_ssl_context()


@dataclass(eq=False)
class Upstream:
    """One endpoint's pooled client on one event loop."""

    session: aiohttp.ClientSession
    completions_url: str

    @property
    def is_closed(self) -> bool:
        return self.session.closed


def _client(endpoint: Endpoint, timeout: float) -> Upstream:
    """One pooled client per (base URL, timeout) per event loop: connections are reused."""
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    upstream = clients.get((endpoint.base_url, timeout))
    if upstream is None:
        # sock_read: the longest silence on the socket, the answer's headers included (httpx's read
        # timeout); connect: TCP and TLS. Idle connections are dropped after 4 s, before vLLM's
        # (uvicorn's) 5 s. No cookie jar, no proxies from the environment: model servers are direct.
        timeouts = aiohttp.ClientTimeout(total=None, connect=min(timeout, 10.0), sock_read=timeout)
        connector = aiohttp.TCPConnector(limit=0, ssl=_TLS, keepalive_timeout=4.0)
        session = aiohttp.ClientSession(connector=connector, timeout=timeouts, cookie_jar=aiohttp.DummyCookieJar())
        upstream = clients[(endpoint.base_url, timeout)] = Upstream(session, f"{endpoint.base_url}/chat/completions")
    return upstream


def warm_up() -> None:
    """The upstream client's one-time costs at process start, not in the first battle (called by the
    ASGI entry point; opens no connection). Nothing left: aiohttp loads all a request needs at import."""


async def close_clients() -> None:
    """Close this event loop's pooled clients (the ASGI server's shutdown: config/asgi.py)."""
    for upstream in _clients.pop(asyncio.get_running_loop(), {}).values():
        await upstream.session.close()


class UpstreamError(RuntimeError):
    """The endpoint answered, but not a stream of completions: an HTTP error status or an error event."""


async def stream_chat(
    endpoint: Endpoint,
    messages: list[dict],
    *,
    temperature: float,
    top_p: float,
    max_tokens: int,
    stats: StreamStats | None = None,
    first_token_timeout: float = 60.0,
    token_timeout: float = 30.0,
    retries: int = 1,
    max_chars: int | None = None,
) -> AsyncIterator[str]:
    """Yield text deltas as they arrive. Raises EndpointError on failure (see ``before_first_token``).

    With ``max_chars``, at most that many characters are yielded: the response is closed at the cap
    (an endpoint may ignore ``max_tokens``) and ``stats.finish_reason`` is ``"length"``."""
    stats = stats if stats is not None else StreamStats()
    body = orjson.dumps({
        "model": endpoint.served_name, "messages": messages, "stream": True, "temperature": temperature,
        "top_p": top_p, "max_tokens": max_tokens, "stream_options": {"include_usage": True},
    })
    headers = {"Authorization": f"Bearer {endpoint.api_key()}", "Content-Type": "application/json",
               "Accept": "text/event-stream"}
    started = time.monotonic()
    attempt = 0
    resent = False
    while True:
        response = deltas = None
        try:
            upstream = _client(endpoint, token_timeout)
            response = await upstream.session.post(upstream.completions_url, data=body, headers=headers)
            if response.status != 200:
                raise UpstreamError(_status_message(response.status, await response.read()))
            deltas = _text_deltas(response, stats, token_timeout)
            first = await _next_delta(deltas, first_token_timeout)
            break
        except BaseException as exc:
            await _close(response, deltas)  # cancelled too (a speculative request no longer wanted): hang up
            if not isinstance(exc, (UpstreamError, aiohttp.ClientError, asyncio.TimeoutError, OSError)):
                raise
            if response is None and not resent and _pooled_connection_dropped(exc):
                resent = True  # sent again at once, on another connection
                continue
            attempt += 1
            if attempt > retries:
                raise EndpointError(_describe(exc), before_first_token=True) from exc
            await asyncio.sleep(0.5 * attempt)
    if first is None:  # stream ended without any text: a valid, empty answer
        stats.duration_ms = int((time.monotonic() - started) * 1000)
        await _close(response, deltas)
        return
    stats.ttft_ms = int((time.monotonic() - started) * 1000)
    length = 0
    delta = first
    try:
        while delta is not None:
            if max_chars is not None and length + len(delta) >= max_chars:
                delta = delta[:max_chars - length]
                stats.finish_reason = "length"  # whatever the endpoint would have said: we stopped reading
                if delta:
                    stats.text_parts.append(delta)
                    yield delta
                break
            length += len(delta)
            stats.text_parts.append(delta)
            yield delta
            # No timer per token (asyncio.timeout's were a tenth of a relaying worker's CPU, py-spy):
            # the session's sock_read bounds a silent socket, _text_deltas a socket sending no text.
            delta = await anext(deltas, None)
    except (UpstreamError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise EndpointError(_describe(exc), before_first_token=False) from exc
    finally:
        stats.duration_ms = int((time.monotonic() - started) * 1000)
        await _close(response, deltas)  # at the cap, on an error or when the reader stops: free the connection


async def _next_delta(deltas: AsyncIterator[str], timeout: float) -> str | None:
    # The first token only (later ones: see stream_chat). asyncio.timeout, not wait_for: no extra task.
    async with asyncio.timeout(timeout):
        return await anext(deltas, None)


async def _text_deltas(response: aiohttp.ClientResponse, stats: StreamStats,
                       token_timeout: float) -> AsyncIterator[str]:
    """The text of each chunk of a chat-completions event stream, as it arrives; usage and finish
    reason go into ``stats``. Parsed here rather than by the OpenAI SDK, which builds pydantic objects
    for every chunk: per token the relay's largest CPU cost (profiled: docs/relay.md). Raises
    TimeoutError when the stream keeps sending but no text for ``token_timeout`` seconds."""
    clock = asyncio.get_running_loop().time
    last_text = [math.inf]  # before the first text, first_token_timeout applies (stream_chat)
    async for data in sse_data(_paced(response.content.iter_any(), clock, last_text, token_timeout)):
        if data == b"[DONE]":
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"unreadable event: {data[:100]!r}") from None
        if not isinstance(chunk, dict):
            raise UpstreamError(f"unreadable event: {data[:100]!r}")
        if "error" in chunk:  # vLLM reports a failure mid-stream as an error event
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise UpstreamError(f"error event: {str(message)[:300]}")
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            stats.completion_tokens = usage["completion_tokens"]
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            continue
        choice = choices[0]
        if choice.get("finish_reason"):
            stats.finish_reason = storable(str(choice["finish_reason"]))[:20]
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if text and isinstance(text, str) and (text := storable(text)):  # untrusted: a NUL broke the turn's storage
            stats.chunks += 1
            last_text[0] = clock()
            yield text


async def _paced(chunks: AsyncIterator[bytes], clock, last_text: list[float], timeout: float) -> AsyncIterator[bytes]:
    """The stream's network chunks, cut off once ``timeout`` s passed since its last text (comments,
    empty or usage-only events do not keep a stalled answer alive): one clock read per chunk."""
    async for chunk in chunks:
        if clock() - last_text[0] > timeout:
            raise asyncio.TimeoutError
        yield chunk


def _status_message(status: int, body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
        error = parsed.get("error") or parsed
        message = error.get("message", error) if isinstance(error, dict) else error
    except (orjson.JSONDecodeError, AttributeError):
        message = body.decode("utf-8", "replace")
    return f"HTTP {status}: {str(message)[:300]}"


async def _close(response: aiohttp.ClientResponse | None, deltas=None) -> None:
    """Free a response's connection: back to the pool if it was read to its end, else closed (vLLM
    aborts a request whose client left). Never masks the error being handled."""
    if deltas is not None:
        with contextlib.suppress(Exception):  # the connection is being dropped anyway
            await deltas.aclose()
    if response is not None:
        response.release()


def _pooled_connection_dropped(exc: BaseException) -> bool:
    """A kept-alive connection its server had just closed, unsaid: aiohttp sends only idempotent requests
    again (httpx checked a connection before reuse); a chat completion not yet answered may be too."""
    return (isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError))
            and not isinstance(exc, aiohttp.ClientConnectorError))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out waiting for the model"
    if isinstance(exc, UpstreamError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:300]}"
