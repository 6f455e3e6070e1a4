"""Fixtures for the serving tests: a fake OpenAI-compatible server that lists its models, a serving folder."""
from __future__ import annotations

import pytest

from models_serving.models import ServedModel
from tests.models_serving.factories import fake_full_checkpoint, listing_server


@pytest.fixture(scope="session")
def listing_openai():
    """The arena's fake OpenAI server plus /v1/models (names in ``server.listed``) and a key check."""
    server = listing_server("echo-alpha", "echo-beta", "slow", "down")
    yield server
    server.stop()


@pytest.fixture
def serving_dir(settings, tmp_path):
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "DIR": tmp_path / "serving"}
    return tmp_path / "serving"


@pytest.fixture
def base(tmp_path, db):
    """A registered base checkpoint (fake weights: enough for the folder checks, never served)."""
    folder = fake_full_checkpoint(tmp_path / "base")
    return ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", checkpoint_path=str(folder))
