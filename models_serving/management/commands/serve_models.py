"""Run the vLLM servers the registry needs.

    manage.py serve_models              apply the plan, wait for /health, print it, exit (servers keep running)
    manage.py serve_models --watch      the same, then stay in the foreground: health checks and plan
                                        re-applied every --interval seconds (settings.HEALTH_CHECK_INTERVAL);
                                        SIGTERM/SIGINT stops the servers
    manage.py serve_models --dry-run    print the plan only
    manage.py serve_models --check      run the health checks once
    manage.py serve_models --stop       stop every recorded server
"""
from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from models_serving import health, launcher
from models_serving.models import ServedModel
from models_serving.plan import ServingDefaults, desired_servers


class Command(BaseCommand):
    help = "Start, watch and stop the vLLM servers of the registered models."

    def add_arguments(self, parser):
        parser.add_argument("--watch", action="store_true", help="stay in the foreground, checking and re-applying")
        parser.add_argument("--interval", type=float, default=None,
                            help="seconds between checks (default: settings.HEALTH_CHECK_INTERVAL)")
        parser.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
        parser.add_argument("--check", action="store_true", help="run the health checks once and exit")
        parser.add_argument("--stop", action="store_true", help="stop every recorded server and exit")
        parser.add_argument("--no-wait", action="store_true", help="do not wait for /health after starting")
        parser.add_argument("--timeout", type=float, default=None,
                            help="seconds to wait for a server (default: MODELS_SERVING['START_TIMEOUT'])")
        parser.add_argument("--dtype", default=None)
        parser.add_argument("--max-model-len", type=int, default=None)
        parser.add_argument("--gpu-memory-utilization", type=float, default=None)
        parser.add_argument("--tensor-parallel-size", type=int, default=None)
        parser.add_argument("--extra-args", default=None, help='extra vLLM flags, e.g. --extra-args="--enforce-eager"')

    def handle(self, *args, **options):
        defaults = ServingDefaults.from_settings(
            dtype=options["dtype"], max_model_len=options["max_model_len"],
            gpu_memory_utilization=options["gpu_memory_utilization"],
            tensor_parallel_size=options["tensor_parallel_size"], extra_args=options["extra_args"],
        )
        if options["stop"]:
            stopped = launcher.stop_all()
            self.stdout.write("stopped: " + (", ".join(stopped) or "nothing was running"))
            return
        if options["check"]:
            return self.report_health()
        if options["dry_run"]:
            for plan in desired_servers(ServedModel.objects.all(), defaults):
                self.stdout.write(f"{plan.served_name}: {plan.model_path} adapters={dict(plan.adapters)} "
                                  f"max_loras={plan.max_loras} flags={plan.restart_flags()}")
            return
        interval = options["interval"] or settings.HEALTH_CHECK_INTERVAL
        stop = threading.Event()
        if options["watch"]:
            # Servers are this command's responsibility while it watches: stop them on the way out.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        try:
            report = launcher.apply_plan(defaults, wait=not options["no_wait"], timeout=options["timeout"])
            for line in report.lines() or ["nothing to serve"]:
                self.stdout.write(line)
            if not options["watch"]:
                return
            self.stdout.write(f"watching every {interval:.0f}s; Ctrl-C or SIGTERM stops the servers")
            while not stop.wait(interval):
                self.report_health(quiet=True)
                for action in launcher.apply_plan(defaults, wait=False, backoff=True).actions:
                    if action.what != "keep":
                        self.stdout.write(str(action))
        except TimeoutError as exc:
            raise CommandError(str(exc))
        finally:
            if options["watch"]:
                stopped = launcher.stop_all()
                self.stdout.write("stopped: " + (", ".join(stopped) or "nothing"))

    def report_health(self, quiet: bool = False):
        for result in health.check_all():
            if result.healthy and quiet:
                continue
            state = "healthy" if result.healthy else f"UNHEALTHY ({result.error})"
            self.stdout.write(f"{result.public_name}: {state}")
