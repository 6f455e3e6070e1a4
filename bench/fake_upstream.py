"""A lean OpenAI-compatible model server for load benchmarks: its own process, no framework.

  python bench/fake_upstream.py --port 8100 --models bench-a,bench-b --tokens-per-s 50 --answer-tokens 64

- ``POST /v1/chat/completions`` (``stream: true``): after ``--ttft-ms``, ``--answer-tokens`` Basque
  words, one SSE chunk each, at ``--tokens-per-s`` per stream, then a ``stop`` chunk, a usage chunk
  (as vLLM does with ``stream_options.include_usage``) and ``[DONE]``. Any model name is answered;
  ``max_tokens`` caps the answer. Non-streaming requests get the whole answer as one JSON body.
- ``GET /v1/models``: the ``--models`` names (what the arena's health check looks for).
- ``GET /health``: 200.
Killed and restarted on the same port by ``bench/load_bench.py --chaos`` (a model server dies).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import time

try:
    import orjson

    def dumps(value) -> bytes:
        return orjson.dumps(value)

    def loads(data: bytes):
        return orjson.loads(data)
except ImportError:  # pragma: no cover - the venv has orjson
    import json

    def dumps(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(data: bytes):
        return json.loads(data)

WORDS = ("Kaixo ", "lagun ", "Euskal ", "Herriko ", "mendirik ", "altuena ", "Aneto ", "da, ", "baina ",
         "Euskal ", "Autonomia ", "Erkidegoan ", "Gorbeia ", "eta ", "Aitzkorri ", "daude. ")
_ids = itertools.count()


def make_app(*, models: list[str], tokens_per_s: float, answer_tokens: int, ttft_ms: float):
    delay = 1.0 / tokens_per_s if tokens_per_s > 0 else 0.0
    listing = dumps({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "load-bench"} for name in models]})

    async def respond(send, status: int, body: bytes, content_type: bytes = b"application/json"):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def read_body(receive) -> bytes:
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(parts)

    def chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None, usage=None) -> bytes:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            body["usage"] = usage
        return b"data: " + dumps(body) + b"\n\n"

    async def chat(receive, send):
        try:
            payload = loads(await read_body(receive))
        except ValueError:
            return await respond(send, 400, dumps({"error": {"message": "bad JSON"}}))
        model = str(payload.get("model", ""))
        count = max(1, min(answer_tokens, int(payload.get("max_tokens") or answer_tokens)))
        cid, created = f"chatcmpl-{next(_ids)}", int(time.time())
        words = [WORDS[i % len(WORDS)] for i in range(count)]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}
        if not payload.get("stream"):
            await asyncio.sleep(ttft_ms / 1000 + delay * count)
            return await respond(send, 200, dumps({
                "id": cid, "object": "chat.completion", "created": created, "model": model, "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(words)}}]}))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        loop = asyncio.get_running_loop()
        start = loop.time() + ttft_ms / 1000
        await asyncio.sleep(max(0.0, start - loop.time()))
        await send({"type": "http.response.body", "more_body": True,
                    "body": chunk(cid, model, created, {"role": "assistant", "content": ""})})
        for index, word in enumerate(words):
            wait = start + index * delay - loop.time()  # a steady rate, whatever the loop's jitter
            if wait > 0:
                await asyncio.sleep(wait)
            await send({"type": "http.response.body", "more_body": True,
                        "body": chunk(cid, model, created, {"content": word})})
        tail = (chunk(cid, model, created, {}, "stop") + chunk(cid, model, created, {}, usage=usage)
                + b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": tail})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"].rstrip("/"), scope["method"]
        if path == "/health":
            return await respond(send, 200, b"{}")
        if path == "/v1/models" and method == "GET":
            return await respond(send, 200, listing)
        if path == "/v1/chat/completions" and method == "POST":
            return await chat(receive, send)
        return await respond(send, 404, dumps({"error": {"message": "not found"}}))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models", default="bench-a,bench-b", help="served names /v1/models lists")
    parser.add_argument("--tokens-per-s", type=float, default=50.0, help="per stream")
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="delay before the first token")
    args = parser.parse_args()
    import uvicorn

    app = make_app(models=[m for m in args.models.split(",") if m], tokens_per_s=args.tokens_per_s,
                   answer_tokens=args.answer_tokens, ttft_ms=args.ttft_ms)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=30)


if __name__ == "__main__":
    main()
