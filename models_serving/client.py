"""The one client of OpenAI-compatible endpoints: streaming chat completions and the ``/models`` listing.

Streaming is used by the arena's consumer, the admin's "test a model" action and the benchmarks.
Requests are retried only before the first token arrives; once text has reached a volunteer a
failure ends the stream with an error instead of silently restarting it. The listing is what the
health check, the launcher and the registration checks ask an endpoint.
"""
from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import openai
from django.conf import settings
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

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
    def __init__(self, message: str, *, before_first_token: bool):
        super().__init__(message)
        self.before_first_token = before_first_token


class ListingError(RuntimeError):
    """``GET /models`` failed; ``status_code`` is None when the endpoint could not be reached at all."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
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


# Pooled clients per event loop (an httpx pool cannot cross loops), then per endpoint/key/timeout.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()
# One TLS context for every upstream client, built at import. httpx builds one per client by
# default (loading the CA bundle: ~30 ms of CPU), and that ran on the event loop when a process's
# first battle created its clients: the first token of that battle waited for it (profiled with
# bench/relay_timeline.py: side B's request started 73 ms after side A's).
_TLS = httpx.create_ssl_context()


def _new_client(base_url: str, api_key: str, timeout: float) -> AsyncOpenAI:
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    return AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeouts,
                       http_client=DefaultAsyncHttpxClient(verify=_TLS, timeout=timeouts))


def warm_up() -> None:
    """Pay the upstream client's one-time costs at process start, not inside the first battle: the
    SDK imports its chat resources on first use (~60 ms of CPU on the event loop, profiled). Called
    by the ASGI entry point; opens no connection."""
    _new_client("http://127.0.0.1/v1", "warm-up", 1.0).chat.completions  # imports the chat resources (~60 ms)


def _client(endpoint: Endpoint, timeout: float) -> AsyncOpenAI:
    """One pooled client per (endpoint, key, timeout) per event loop: connections are reused."""
    key = endpoint.api_key()
    cache_key = (endpoint.base_url, key, timeout)
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(cache_key)
    if client is None:
        client = _new_client(endpoint.base_url, key, timeout)
        clients[cache_key] = client
    return client


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
    started = time.monotonic()
    attempt = 0
    while True:
        stream = None
        try:
            stream = await _client(endpoint, token_timeout).chat.completions.create(
                model=endpoint.served_name, messages=messages, stream=True,
                temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                stream_options={"include_usage": True},
            )
            iterator = stream.__aiter__()
            first = await asyncio.wait_for(_next_with_text(iterator, stats), timeout=first_token_timeout)
            break
        except (openai.APIError, httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
            await _close(stream)
            attempt += 1
            if attempt > retries:
                raise EndpointError(_describe(exc), before_first_token=True) from exc
            await asyncio.sleep(0.5 * attempt)
    if first is None:  # stream ended without any text: a valid, empty answer
        stats.duration_ms = int((time.monotonic() - started) * 1000)
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
            delta = await asyncio.wait_for(_next_with_text(iterator, stats), timeout=token_timeout)
    except (openai.APIError, httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
        raise EndpointError(_describe(exc), before_first_token=False) from exc
    finally:
        stats.duration_ms = int((time.monotonic() - started) * 1000)
        await _close(stream)  # at the cap, on an error or when the reader stops: free the connection


async def _next_with_text(iterator, stats: StreamStats) -> str | None:
    """Advance to the next chunk that carries text; None at the end of the stream."""
    async for chunk in iterator:
        if chunk.usage is not None:
            stats.completion_tokens = chunk.usage.completion_tokens
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.finish_reason:
            stats.finish_reason = choice.finish_reason
        text = choice.delta.content if choice.delta else None
        if text:
            stats.chunks += 1
            return text
    return None


async def _close(stream) -> None:
    """Close a response that may not have been read to its end; never masks the error being handled."""
    if stream is None:
        return
    try:
        await stream.close()
    except Exception:  # noqa: BLE001 - the connection is being dropped anyway
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out waiting for the model"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
