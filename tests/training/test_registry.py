"""Registering training outputs as ServedModels (through the CLI and the service function)."""
from __future__ import annotations

import pytest

from tests.models_serving.factories import listing_server
from training.__main__ import main
from training.registry import RegistrationError, register_checkpoint


@pytest.fixture
def vllm_server():
    """A stand-in for the base's vLLM server: /health, and /v1/models listing what it serves."""
    server = listing_server()
    yield server
    server.stop()


def test_lora_needs_its_base_registered_first(db, lora_run):
    with pytest.raises(RegistrationError, match="--base: This adapter was trained on .* not a registered vLLM"):
        register_checkpoint(lora_run.output_dir, name="Tiny LoRA")
    with pytest.raises(RegistrationError, match="no ServedModel with that public name"):
        register_checkpoint(lora_run.output_dir, name="Tiny LoRA", base="Nobody")


def test_register_base_then_adapter_via_cli(db, lora_run, tiny_llama_dir, capsys):
    from models_serving.models import ServedModel

    assert main(["register", str(tiny_llama_dir), "--name", "Tiny base",
                 "--endpoint-url", "http://127.0.0.1:8000/v1"]) == 0
    assert main(["register", str(lora_run.output_dir), "--name", "Tiny Basque LoRA", "--description", "demo"]) == 0
    assert "on base 'Tiny base'" in capsys.readouterr().out

    base = ServedModel.objects.get(public_name="Tiny base")
    adapter = ServedModel.objects.get(public_name="Tiny Basque LoRA")
    assert base.kind == ServedModel.Kind.VLLM_BASE and base.checkpoint_path == str(tiny_llama_dir.resolve())
    assert adapter.kind == ServedModel.Kind.VLLM_LORA and adapter.base_model == base
    assert adapter.checkpoint_path == str(lora_run.output_dir.resolve())
    assert adapter.endpoint_url == base.endpoint_url  # adapters are served by their base's vLLM server
    assert adapter.served_name == "tiny-basque-lora"
    assert adapter.recipe == "tiny" and adapter.backbone == str(tiny_llama_dir)
    assert adapter.training_run.startswith(lora_run.output_dir.name)

    # The same public name twice is refused, with exit code 2 and a message.
    assert main(["register", str(lora_run.output_dir), "--name", "Tiny Basque LoRA", "--base", "Tiny base"]) == 2
    assert "--name: A model called Tiny Basque LoRA is already registered." in capsys.readouterr().err


def test_full_checkpoint_registers_with_provenance(db, full_run):
    model = register_checkpoint(full_run.output_dir, name="Tiny full")
    assert model.kind == "vllm_base" and model.base_model is None and model.recipe == "tiny"
    with pytest.raises(RegistrationError, match="--base: A full checkpoint has no base model"):
        register_checkpoint(full_run.output_dir, name="Tiny full 2", base="Tiny full")


def test_not_a_checkpoint(db, tmp_path):
    with pytest.raises(RegistrationError, match="checkpoint: .* has no config.json"):
        register_checkpoint(tmp_path, name="Empty")


def test_a_lora_registered_from_the_command_line_is_drawn_only_once_its_server_lists_it(
        db, lora_run, tiny_llama_dir, vllm_server):
    from models_serving import health
    from models_serving.models import ServedModel
    from models_serving.selectors import available_models

    def drawable() -> set[str]:
        return {model.public_name for model in available_models()}

    vllm_server.listed.add("tiny-base")
    assert main(["register", str(tiny_llama_dir), "--name", "Tiny base", "--endpoint-url", vllm_server.base_url]) == 0
    health.check_all()
    assert drawable() == {"Tiny base"}

    assert main(["register", str(lora_run.output_dir), "--name", "Tiny Basque LoRA"]) == 0
    assert drawable() == {"Tiny base"}  # not drawn before its base's server has loaded it
    adapter = ServedModel.objects.get(public_name="Tiny Basque LoRA")
    assert (adapter.health, adapter.last_error) == ("unhealthy", "waiting for its vLLM server")
    health.check_all()  # the server runs, but has not loaded the adapter
    assert drawable() == {"Tiny base"}
    assert ServedModel.objects.get(pk=adapter.pk).last_error == "/v1/models does not list 'tiny-basque-lora'"

    vllm_server.listed.add("tiny-basque-lora")  # the adapter is loaded
    health.check_all()
    assert drawable() == {"Tiny base", "Tiny Basque LoRA"}
