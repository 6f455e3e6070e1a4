"""The registration service: the one path by which models enter the registry, and the state it leaves them in."""
from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from models_serving import services
from models_serving.models import ModelServer, ServedModel
from models_serving.selectors import available_models
from tests.models_serving.factories import fake_adapter, fake_full_checkpoint


def test_a_new_vllm_model_waits_for_its_server(tmp_path, db):
    base = services.register_model(public_name="Latxa Proba 8B", kind="vllm_base", temperature=0.5,
                                   checkpoint_path=str(fake_full_checkpoint(tmp_path / "base")),
                                   endpoint_url="http://127.0.0.1:8001/v1")
    adapter = services.register_model(public_name="Latxa LoRA (eu)", kind="vllm_lora",
                                      checkpoint_path=str(fake_adapter(tmp_path / "lora", base=base.checkpoint_path)))
    for model in (base, adapter):
        model.refresh_from_db()
        assert (model.health, model.last_error) == ("unhealthy", "waiting for its vLLM server")
    assert (base.served_name, base.temperature) == ("latxa-proba-8b", 0.5)
    # The adapter found its base from its config, and is reached through the base's server.
    assert adapter.base_model == base and adapter.served_name == "latxa-lora-eu"
    assert adapter.endpoint_url == base.endpoint_url
    assert not available_models().exists()


def test_an_external_endpoint_is_healthy_once_it_answered(listing_openai, db):
    model = services.register_model(public_name="Kanpokoa", kind="external", served_name="echo-alpha",
                                    endpoint_url=listing_openai.base_url + "/")
    assert model.health == "healthy" and model.endpoint_url == listing_openai.base_url
    assert list(available_models()) == [model]


def test_nothing_is_stored_when_a_check_fails(tmp_path, base, db):
    with pytest.raises(ValidationError) as refused:
        services.register_model(public_name="oinarria", kind="vllm_base", checkpoint_path=str(tmp_path / "ez-dago"),
                                temperature=5)
    errors = refused.value.message_dict
    assert "already registered" in errors["public_name"][0] and "does not exist" in errors["checkpoint_path"][0]
    with pytest.raises(ValidationError) as refused:  # the field checks run too
        services.register_model(public_name="Beroegia", kind="vllm_base", checkpoint_path=base.checkpoint_path,
                                temperature=5)
    assert list(refused.value.message_dict) == ["temperature"]
    assert list(ServedModel.objects.all()) == [base]


def test_edits_that_move_a_model_on_its_server_take_it_out_until_served(tmp_path, base, db):
    adapter = services.register_model(public_name="Egokitzailea", kind="vllm_lora",
                                      checkpoint_path=str(fake_adapter(tmp_path / "lora", base=base.checkpoint_path)))
    services.mark_healthy(model_id=adapter.pk)
    adapter.refresh_from_db()
    adapter.description = "Euskarazko egokitzailea"
    services.save_model(model=adapter, changed=["description"])
    adapter.refresh_from_db()
    assert adapter.health == "healthy"
    adapter.served_name = "egokitzaile-berria"
    services.save_model(model=adapter, changed=["served_name"])
    adapter.refresh_from_db()
    assert (adapter.health, adapter.served_name) == ("unhealthy", "egokitzaile-berria")


def test_apply_to_live_server_only_with_a_live_server(tmp_path, base, serving_dir, db):
    adapter = services.register_model(public_name="Egokitzailea", kind="vllm_lora",
                                      checkpoint_path=str(fake_adapter(tmp_path / "lora", base=base.checkpoint_path)))
    assert services.apply_to_live_server(adapter=adapter) == []
    # A recorded live server that has gone away: the plan restarts it, which fails at once on a busy port
    # (so no vLLM process is started here).
    ModelServer.objects.create(base=base, served_name="oinarria", port=9, status="running", hostname="elsewhere")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ServedModel.objects.filter(pk=base.pk).update(server_port=port)
        lines = services.apply_to_live_server(adapter=adapter)
    assert lines == ["oinarria: restart (not running)", f"oinarria: failed (port {port} is already in use)"]
