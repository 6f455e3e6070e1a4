"""Which models new battles may draw, and where they are reached."""
import pytest

from models_serving.models import ModelServer, ServedModel
from models_serving.selectors import available_models, endpoint_for, live_server_of, models_of


@pytest.mark.django_db
def test_available_models_need_activity_health_and_an_endpoint():
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", endpoint_url="http://127.0.0.1:8001/v1",
                                      served_name="base", health="healthy")
    adapter = ServedModel.objects.create(public_name="Egokitzailea", kind="vllm_lora", base_model=base,
                                         served_name="lora-eu")
    ServedModel.objects.create(public_name="Helbiderik gabe", kind="vllm_base", served_name="x")
    ServedModel.objects.create(public_name="Gaixorik", endpoint_url="http://127.0.0.1:8002/v1", health="unhealthy")
    ServedModel.objects.create(public_name="Itzalita", endpoint_url="http://127.0.0.1:8003/v1", is_active=False)
    assert {m.public_name for m in available_models()} == {"Oinarria", "Egokitzailea"}
    endpoint = endpoint_for(adapter)
    assert (endpoint.base_url, endpoint.served_name) == ("http://127.0.0.1:8001/v1", "lora-eu")


@pytest.mark.django_db
def test_a_server_answers_for_its_base_and_the_adapters_it_holds():
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", served_name="base")
    loaded = ServedModel.objects.create(public_name="A", kind="vllm_lora", base_model=base, served_name="a")
    ServedModel.objects.create(public_name="B", kind="vllm_lora", base_model=base, served_name="b")
    assert live_server_of(base.pk) is None
    server = ModelServer.objects.create(base=base, served_name="base", port=8001, adapters={"a": "/a"})
    assert set(models_of(server)) == {base, loaded}
    assert live_server_of(base.pk) == server
    server.status = ModelServer.Status.STOPPED
    server.save()
    assert live_server_of(base.pk) is None
