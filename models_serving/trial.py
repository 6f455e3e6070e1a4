"""The admin's "test this model": one short Basque prompt, streamed back with its timings."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

from models_serving import client
from models_serving.selectors import endpoint_for

DEFAULT_PROMPT = "Kaixo! Azaldu labur, bi esalditan, zer den euskara."


def request_for(model, prompt: str) -> dict:
    """Everything the stream needs, read from the database before streaming starts."""
    messages = [{"role": "system", "content": model.system_prompt}] if model.system_prompt else []
    messages.append({"role": "user", "content": prompt})
    return {
        "endpoint": endpoint_for(model), "messages": messages, "temperature": model.temperature,
        "top_p": model.top_p, "max_tokens": min(model.max_tokens, 256),
    }


async def stream_events(request: dict) -> AsyncIterator[str]:
    """NDJSON lines: {"delta": text}..., then {"done": true, timings} or {"error": message}."""
    stats = client.StreamStats()
    try:
        async for delta in client.stream_chat(
            request["endpoint"], request["messages"], temperature=request["temperature"],
            top_p=request["top_p"], max_tokens=request["max_tokens"], stats=stats, retries=0,
        ):
            yield json.dumps({"delta": delta}) + "\n"
    except client.EndpointError as exc:
        yield json.dumps({"error": str(exc), "before_first_token": exc.before_first_token}) + "\n"
        return
    decode_s = (stats.duration_ms - (stats.ttft_ms or 0)) / 1000
    yield json.dumps({
        "done": True, "ttft_ms": stats.ttft_ms, "duration_ms": stats.duration_ms, "tokens": stats.token_count,
        "tokens_per_s": round((stats.token_count - 1) / decode_s, 1) if decode_s > 0 and stats.token_count > 1 else None,
        "finish_reason": stats.finish_reason,
    }) + "\n"
