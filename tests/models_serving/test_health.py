"""Health checks: a failing endpoint leaves new battles at once and comes back when it answers."""
from __future__ import annotations

from models_serving import health
from models_serving.client import Endpoint
from models_serving.models import ServedModel
from models_serving.selectors import available_models


def test_health_check_flips_an_external_model_and_battles_follow(listing_openai, db):
    alpha = ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                                       served_name="echo-alpha")
    gone = ServedModel.objects.create(public_name="Joana", kind="external", endpoint_url="http://127.0.0.1:9/v1",
                                      served_name="x")
    results = {r.public_name: r for r in health.check_all()}
    assert results["Alfa"].healthy and not results["Joana"].healthy
    assert "unreachable" in ServedModel.objects.get(pk=gone.pk).last_error
    assert list(available_models()) == [alpha]

    listing_openai.listed.discard("echo-alpha")
    try:
        health.check_all()
        alpha.refresh_from_db()
        assert alpha.health == "unhealthy" and "does not list 'echo-alpha'" in alpha.last_error
        assert alpha not in available_models()
    finally:
        listing_openai.listed.add("echo-alpha")
    health.check_all()
    alpha.refresh_from_db()
    assert alpha.health == "healthy" and alpha.last_error == "" and alpha in available_models()



def test_a_vllm_model_needs_its_server_to_list_it(listing_openai, db):
    """One probe per endpoint: the base and an adapter share their server's listing."""
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", served_name="echo-alpha",
                                      endpoint_url=listing_openai.base_url, checkpoint_path="/x")
    ServedModel.objects.create(public_name="Egokitzailea", kind="vllm_lora", base_model=base,
                               served_name="ez-kargatua", checkpoint_path="/y")
    results = {r.public_name: r for r in health.check_all()}
    assert results["Oinarria"].healthy
    assert results["Egokitzailea"].error == "/v1/models does not list 'ez-kargatua'"
    assert list(available_models()) == [base]


def test_probe_says_why_an_endpoint_fails(listing_openai, db):
    assert health.probe(Endpoint(base_url="", served_name="x"), check_root=False)[0].startswith("no endpoint URL")
    unset = Endpoint(base_url=listing_openai.base_url, served_name="x", api_key_env="ARENA_MODEL_KEY_UNSET")
    error, listed = health.probe(unset, check_root=True)
    assert error == "environment variable ARENA_MODEL_KEY_UNSET is not set" and listed == set()
    assert health.probe(Endpoint(base_url="http://127.0.0.1:9/v1", served_name="x"), check_root=True)[0].startswith(
        "unreachable: ConnectError")

