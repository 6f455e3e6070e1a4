"""The serve_models command, on paths that start no vLLM process."""
from __future__ import annotations

import signal
import threading
from io import StringIO

from django.core.management import call_command

from models_serving.models import ModelServer, ServedModel
from tests.models_serving.factories import fake_adapter, fake_full_checkpoint


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


def test_check_reports_each_model(listing_openai, db, serving_dir):
    ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="echo-alpha")
    ServedModel.objects.create(public_name="Galdua", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="ez-dago")
    output = run("--check")
    assert "Alfa: healthy" in output and "Galdua: UNHEALTHY (/v1/models does not list 'ez-dago')" in output


def test_stop_with_nothing_running(db, serving_dir):
    assert run("--stop") == "stopped: nothing was running\n"


def test_watch_checks_every_health_check_interval(settings, db, serving_dir, monkeypatch):
    """Without --interval the loop waits settings.HEALTH_CHECK_INTERVAL between checks."""
    settings.HEALTH_CHECK_INTERVAL = 7.0
    waits = []

    def wait(self, timeout=None):
        waits.append(timeout)
        return len(waits) > 2  # two rounds, then as if SIGTERM had arrived

    monkeypatch.setattr(threading.Event, "wait", wait)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        output = run("--watch", "--no-wait")
    finally:  # the command installs its own; pytest's Ctrl-C must work after it
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert waits == [7.0] * 3
    assert "watching every 7s" in output and output.endswith("stopped: nothing\n")
