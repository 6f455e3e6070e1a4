"""What a run evaluates: checkpoint folders, arena models (duck-typed rows) and the endpoint pre-flight."""
import json
from types import SimpleNamespace

import pytest

from evaluation.errors import EvaluationError
from evaluation.targets import auth_header, check_endpoint, resolve_target, target_for_served_model
from models_serving.vllm_process import free_port


@pytest.fixture
def checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def _served(**fields):
    row = dict(pk=7, public_name="Latxa", kind="vllm_base", checkpoint_path="/models/latxa", endpoint_url="http://h/v1/",
               served_name="latxa", api_key_env="", base_model=None)
    return SimpleNamespace(**{**row, **fields})


def test_a_checkpoint_runs_in_process_or_behind_the_given_endpoint(checkpoint):
    target = resolve_target(str(checkpoint))
    assert (target.backend, target.pretrained, target.tokenizer) == ("hf", str(checkpoint), str(checkpoint))
    served = resolve_target(str(checkpoint), base_url="http://127.0.0.1:8000/v1/", served_name="mine")
    assert (served.backend, served.base_url, served.served_name) == ("endpoint", "http://127.0.0.1:8000/v1", "mine")
    with pytest.raises(EvaluationError, match="needs --base-url"):
        resolve_target(str(checkpoint), "endpoint")


def test_a_lora_adapter_loads_its_base_plus_the_adapter(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/models/base"}))
    target = resolve_target(str(adapter))
    assert (target.pretrained, target.peft, target.tokenizer) == ("/models/base", str(adapter), "/models/base")


def test_bad_paths_and_names_are_explained(tmp_path):
    with pytest.raises(EvaluationError, match="is not a folder"):
        resolve_target(str(tmp_path / "missing"))
    with pytest.raises(EvaluationError, match="no config.json or adapter_config.json"):
        resolve_target(str(tmp_path))
    with pytest.raises(EvaluationError, match="unknown backend"):
        resolve_target("x", "tpu")


def test_an_arena_model_uses_its_endpoint_and_its_checkpoint_tokenizer():
    target = resolve_target("Latxa", lookup=lambda name: _served())
    assert target.as_dict() == {
        "label": "Latxa", "backend": "endpoint", "pretrained": "", "peft": "", "tokenizer": "/models/latxa",
        "base_url": "http://h/v1", "served_name": "latxa", "api_key_env": "", "served_model_id": 7}
    base = _served(pk=1, public_name="Base", checkpoint_path="/models/base")
    lora = _served(kind="vllm_lora", checkpoint_path="/adapters/eu", endpoint_url="", base_model=base)
    assert target_for_served_model(lora).base_url == "http://h/v1"  # the base's server
    assert target_for_served_model(lora).tokenizer == "/models/base"
    in_process = target_for_served_model(lora, "hf")
    assert (in_process.pretrained, in_process.peft) == ("/models/base", "/adapters/eu")


def test_an_external_model_needs_an_endpoint_and_a_tokenizer():
    with pytest.raises(EvaluationError, match="no local checkpoint to load in-process"):
        target_for_served_model(_served(kind="external", checkpoint_path=""), "hf")
    with pytest.raises(EvaluationError, match="has no endpoint URL"):
        target_for_served_model(_served(endpoint_url=""))
    with pytest.raises(EvaluationError, match="pass --tokenizer"):
        target_for_served_model(_served(kind="external", checkpoint_path=""))
    assert target_for_served_model(_served(kind="external", checkpoint_path=""), tokenizer="/tok").tokenizer == "/tok"


def test_api_keys_come_from_the_named_environment_variable(monkeypatch):
    target = target_for_served_model(_served(api_key_env="ARENA_MODEL_KEY_LATXA"))
    monkeypatch.delenv("ARENA_MODEL_KEY_LATXA", raising=False)
    with pytest.raises(EvaluationError, match="ARENA_MODEL_KEY_LATXA is not set"):
        auth_header(target)
    monkeypatch.setenv("ARENA_MODEL_KEY_LATXA", "s3cret")
    assert auth_header(target) == {"Authorization": "Bearer s3cret"}
    assert auth_header(target_for_served_model(_served())) == {}


def test_only_allowed_variables_become_keys(monkeypatch):
    """A registry row naming one of the site's secrets (stored before the allow-list) sends nothing."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "the-site-secret")
    with pytest.raises(EvaluationError, match="may not hold an API key"):
        auth_header(target_for_served_model(_served(api_key_env="DJANGO_SECRET_KEY")))


def test_an_unreachable_endpoint_fails_the_pre_flight_check():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EvaluationError, match=f"model endpoint {url} is unreachable"):
        check_endpoint(target_for_served_model(_served(endpoint_url=url)), timeout=2)
