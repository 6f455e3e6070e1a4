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
