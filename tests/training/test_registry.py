"""Registering training outputs as ServedModels (through the CLI and the service function)."""
from __future__ import annotations

import pytest

from training.__main__ import main
from training.registry import RegistrationError, register_checkpoint


def test_lora_needs_its_base_registered_first(db, lora_run):
    with pytest.raises(RegistrationError, match="is not registered: register it first"):
        register_checkpoint(lora_run.output_dir, name="Tiny LoRA")
    with pytest.raises(RegistrationError, match="no ServedModel with that public name"):
        register_checkpoint(lora_run.output_dir, name="Tiny LoRA", base="Nobody")


def test_register_base_then_adapter_via_cli(db, lora_run, tiny_llama_dir, capsys):
    from models_serving.models import ServedModel

    assert main(["register", str(tiny_llama_dir), "--name", "Tiny base", "--endpoint-url", "http://127.0.0.1:8000/v1"]) == 0
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
    assert "already exists" in capsys.readouterr().err


def test_full_checkpoint_registers_with_provenance(db, full_run):
    model = register_checkpoint(full_run.output_dir, name="Tiny full")
    assert model.kind == "vllm_base" and model.base_model is None and model.recipe == "tiny"
    with pytest.raises(RegistrationError, match="only applies to LoRA"):
        register_checkpoint(full_run.output_dir, name="Tiny full 2", base="Tiny full")


def test_not_a_checkpoint(db, tmp_path):
    with pytest.raises(RegistrationError, match="neither a LoRA adapter"):
        register_checkpoint(tmp_path, name="Empty")
