"""Fixtures for the serving tests: a fake OpenAI-compatible server that also lists its models."""
from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from models_serving.vllm_process import free_port
from tests.support.fake_openai import FakeOpenAIServer


@pytest.fixture(scope="session")
def listing_openai():
    """The arena's fake OpenAI server plus /v1/models (names in ``server.listed``) and a key check."""
    server = FakeOpenAIServer(free_port())
    server.listed = {"echo-alpha", "echo-beta", "slow", "down"}
    server.required_key = None

    @server.app.get("/v1/models")
    async def models(request: Request):
        if server.required_key and request.headers.get("authorization") != f"Bearer {server.required_key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return {"object": "list", "data": [{"id": name, "object": "model"} for name in sorted(server.listed)]}

    server.start()
    yield server
    server.stop()


@pytest.fixture
def serving_dir(settings, tmp_path):
    settings.MODELS_SERVING = {"DIR": tmp_path / "serving"}
    return tmp_path / "serving"
