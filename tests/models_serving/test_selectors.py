"""Which models new battles may draw."""
import pytest

from models_serving.models import ServedModel
from models_serving.selectors import available_models, endpoint_for


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


def test_engine_failure_in_the_log_fails_the_wait_at_once(tmp_path):
    """The API process can outlive a dead engine; the wait must not spin until its timeout."""
    import subprocess
    import sys
    import time

    from models_serving.vllm_process import ServerStartError, VLLMServer, VLLMServerSpec

    server = VLLMServer(VLLMServerSpec(model="unused", served_name="x"), tmp_path / "server.log")
    server.log_path.write_text("(EngineCore pid=1) ERROR EngineCore failed to start.\n")
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    started = time.monotonic()
    try:
        with pytest.raises(ServerStartError, match="engine failed to start"):
            server.wait_healthy(timeout=20, poll=0.1)
        assert time.monotonic() - started < 5
    finally:
        server.kill()
