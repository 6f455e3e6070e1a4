"""serve_models and the Celery tasks, on paths that start no vLLM process."""
from __future__ import annotations

import socket
from io import StringIO

from django.core.management import call_command

from models_serving import launcher, tasks
from models_serving.models import ModelServer, ServedModel
from tests.models_serving.support import fake_adapter, fake_full_checkpoint


def run(*args) -> str:
    out = StringIO()
    call_command("serve_models", *args, stdout=out)
    return out.getvalue()


def test_dry_run_prints_one_server_per_base(tmp_path, db, serving_dir):
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base",
                                      checkpoint_path=str(fake_full_checkpoint(tmp_path / "b")))
    ServedModel.objects.create(public_name="Ekialde", kind="vllm_lora", base_model=base,
                               checkpoint_path=str(fake_adapter(tmp_path / "l", base.checkpoint_path, rank=32)))
    output = run("--dry-run", "--max-model-len", "4096", "--extra-args=--enforce-eager")
    assert output.count("\n") == 1
    assert "oinarria:" in output and "'ekialde'" in output and "max_loras=3" in output
    assert "'max_model_len': 4096" in output and "'--enforce-eager'" in output
    assert not ModelServer.objects.exists()


def test_check_reports_health_and_the_task_agrees(listing_openai, db, serving_dir):
    ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="echo-alpha")
    ServedModel.objects.create(public_name="Galdua", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="ez-dago")
    output = run("--check")
    assert "Alfa: healthy" in output and "Galdua: UNHEALTHY (/v1/models does not list 'ez-dago')" in output
    assert tasks.check_health.apply().get() == {"healthy": 1, "unhealthy": ["Galdua"]}


def test_a_server_that_cannot_start_leaves_a_clear_record_and_no_process(tmp_path, db, serving_dir):
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", health="healthy",
                                      checkpoint_path=str(fake_full_checkpoint(tmp_path / "b")))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ServedModel.objects.filter(pk=base.pk).update(server_port=port)
        lines = tasks.apply_serving_plan.apply(kwargs={"wait": True}).get()
    assert lines == [f"oinarria: failed (port {port} is already in use)"]
    server = ModelServer.objects.get()
    assert server.status == "failed" and server.pid is None and "already in use" in server.last_error
    base.refresh_from_db()
    assert base.health == "unhealthy" and "could not start" in base.last_error
    assert base.served_name == "oinarria"  # filled in for the arena's endpoint_for()
    assert launcher._children == {}
    assert run("--stop") == "stopped: nothing was running\n"
