"""The demo registers its two entries through the registry's one registration service."""
from __future__ import annotations

import pytest

from arena.management.commands.arena_demo import DEMO_ENTRIES, Command
from models_serving.models import ServedModel
from models_serving.selectors import available_models
from tests.models_serving.factories import listing_server


@pytest.fixture
def demo_server():
    server = listing_server("smollm2-135m-instruct")
    yield server
    server.stop()


@pytest.mark.django_db
def test_demo_entries_are_registered_healthy_and_drawable(demo_server):
    Command().register_entries(demo_server.base_url, "smollm2-135m-instruct")
    names = {entry["public_name"] for entry in DEMO_ENTRIES}
    assert set(available_models().values_list("public_name", flat=True)) == names
    assert set(ServedModel.objects.values_list("endpoint_url", flat=True)) == {demo_server.base_url}


@pytest.mark.django_db
def test_a_rerun_repoints_the_entries_at_the_new_server(demo_server):
    Command().register_entries(demo_server.base_url, "smollm2-135m-instruct")
    second = listing_server("smollm2-135m-instruct")
    try:
        Command().register_entries(second.base_url, "smollm2-135m-instruct")
        assert ServedModel.objects.count() == len(DEMO_ENTRIES)
        assert set(ServedModel.objects.values_list("endpoint_url", flat=True)) == {second.base_url}
    finally:
        second.stop()


@pytest.mark.django_db
def test_an_unreachable_server_is_refused_with_a_clear_error():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Command().register_entries("http://127.0.0.1:9/v1", "smollm2-135m-instruct")
    assert not ServedModel.objects.exists()


@pytest.mark.django_db
def test_the_demo_restarts_its_dead_model_server_and_takes_its_entries_out_meanwhile(demo_server, tmp_path, settings):
    import subprocess
    import sys

    from models_serving.vllm_process import Supervisor, VLLMServer
    from tests.models_serving.factories import ShortLivedSpec

    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "RESTART_BACKOFF": 0.5}
    Command().register_entries(demo_server.base_url, "smollm2-135m-instruct")
    supervisor = Supervisor(VLLMServer(ShortLivedSpec(model="unused", served_name="x"), tmp_path / "s.log").start())
    first_pid = supervisor.server.pid
    demo_server.stop()  # the model server is gone: its endpoint no longer answers
    web = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4)"])  # the web server, for 4 s
    try:
        Command().supervise(web, supervisor)
    finally:
        supervisor.server.stop()
    assert supervisor.server.pid != first_pid and supervisor.failures >= 1
    assert not available_models().exists()
