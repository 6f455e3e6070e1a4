"""The /models listing of an OpenAI-compatible endpoint (streaming is exercised by the arena's tests)."""
from __future__ import annotations

import pytest

from models_serving.client import Endpoint, EndpointError, ListingError, listed_models


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
    for upstream in (first, second):
        assert upstream._client._transport._pool._ssl_context is client._TLS
    await first.close()
    await second.close()
