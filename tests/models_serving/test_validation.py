"""The registration checks that the admin's form and the registration service share."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from models_serving.models import ServedModel
from models_serving.validation import check_model
from tests.models_serving.factories import fake_adapter, fake_full_checkpoint


def errors_of(model: ServedModel) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        check_model(model)
    return refused.value.message_dict


def test_an_adapter_is_served_on_the_base_it_was_trained_on(tmp_path, base, db):
    other = ServedModel.objects.create(public_name="Bestea", kind="vllm_base",
                                       checkpoint_path=str(fake_full_checkpoint(tmp_path / "bestea")))
    folder = str(fake_adapter(tmp_path / "lora", base=base.checkpoint_path))
    wrong = ServedModel(public_name="Egokitzailea", kind="vllm_lora", checkpoint_path=folder, base_model=other)
    assert errors_of(wrong)["base_model"] == [f"This adapter was trained on Oinarria ({base.checkpoint_path}), "
                                              f"not on Bestea."]
    found = ServedModel(public_name="Egokitzailea", kind="vllm_lora", checkpoint_path=folder)
    check_model(found)
    assert found.base_model == base and found.served_name == "egokitzailea"
    external = ServedModel.objects.create(public_name="Kanpokoa", kind="external", endpoint_url="http://x/v1")
    chosen = ServedModel(public_name="Egokitzailea", kind="vllm_lora", checkpoint_path=folder, base_model=external,
                         server_port=9000)
    assert errors_of(chosen) == {"base_model": ["The base must be a vLLM checkpoint (full weights)."],
                                 "server_port": ["Server settings belong to the base model."]}


def test_names_on_one_server_are_unique(tmp_path, base, db):
    ServedModel.objects.create(public_name="Lehena", kind="vllm_lora", base_model=base, served_name="lora")
    folder = str(fake_adapter(tmp_path / "lora", base=base.checkpoint_path))
    clash = ServedModel(public_name="Bigarrena", kind="vllm_lora", checkpoint_path=folder, served_name="lora")
    assert "already used on the same server" in errors_of(clash)["served_name"][0]
    # Another base's server has its own names.
    other = ServedModel.objects.create(public_name="Bestea", kind="vllm_base",
                                       checkpoint_path=str(fake_full_checkpoint(tmp_path / "bestea")))
    check_model(ServedModel(public_name="Hirugarrena", kind="vllm_base", served_name="lora", pk=other.pk,
                            checkpoint_path=other.checkpoint_path))


def test_bad_names_and_arguments_are_refused_whatever_the_kind(base, db):
    model = ServedModel(public_name=" OINARRIA ", kind="vllm_base", checkpoint_path=base.checkpoint_path,
                        api_key_env="sk-0123", server_extra_args="--unclosed 'quote")
    errors = errors_of(model)
    assert errors["public_name"] == ["A model called Oinarria is already registered."]
    assert "never the API key" in errors["api_key_env"][0]
    assert "cannot be parsed" in errors["server_extra_args"][0]
