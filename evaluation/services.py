"""Writes: create runs, execute them, store their scores (all-or-nothing)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import suites
from .errors import EvaluationError
from .models import BenchmarkScore, EvaluationRun
from .runner import Outcome, RunOptions, protocol, run_evaluation
from .targets import BACKENDS, Target, resolve_target

logger = logging.getLogger(__name__)


def create_run(*, model_label: str, backend: str = "auto", suite: str = "basque", tasks: list[str] | None = None,
               num_fewshot: int | None = 5, limit: int | None = None, apply_chat_template: bool = False,
               fewshot_as_multiturn: bool = False, max_length: int | None = None, num_concurrent: int = 1,
               created_by=None) -> EvaluationRun:
    """Validate the request (cheap checks only) and record a pending run."""
    from models_serving.models import ServedModel

    model_label = (model_label or "").strip()
    if not model_label:
        raise EvaluationError("a model (arena public name or checkpoint path) is required")
    if backend not in BACKENDS:
        raise EvaluationError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if fewshot_as_multiturn and not apply_chat_template:
        raise EvaluationError("few-shot examples as chat turns need the chat template")
    if max_length is not None and max_length < 2:
        raise EvaluationError("the context window must be at least 2 tokens")
    if num_concurrent < 1:
        raise EvaluationError("concurrent requests must be 1 or more")
    suites.resolve_tasks(suite, tasks, hub=False)  # raises on an unknown suite / empty task list
    return EvaluationRun.objects.create(
        model_label=model_label, served_model=ServedModel.objects.filter(public_name=model_label).first(),
        backend=backend, suite=suite, tasks=list(tasks or []), num_fewshot=num_fewshot, limit=limit,
        apply_chat_template=apply_chat_template, fewshot_as_multiturn=fewshot_as_multiturn, max_length=max_length,
        num_concurrent=num_concurrent, created_by=created_by,
    )


def launch_run(run: EvaluationRun) -> None:
    """Queue the Celery task once the run row is committed (eager mode runs it right there)."""
    from .tasks import run_evaluation_task

    def enqueue() -> None:
        result = run_evaluation_task.delay(run.pk)
        EvaluationRun.objects.filter(pk=run.pk, celery_task_id="").update(celery_task_id=result.id or "")

    transaction.on_commit(enqueue)


def _progress_writer(run_id: int) -> Callable[[float, str], None]:
    def write(fraction: float, message: str) -> None:
        # A queryset update: never overwrites fields another process changed meanwhile.
        EvaluationRun.objects.filter(pk=run_id).update(progress=round(min(max(fraction, 0.0), 1.0), 4),
                                                       progress_message=message[:300], heartbeat_at=timezone.now())
    return write


@contextmanager
def _heartbeat(run_id: int):
    """Beat while lm-eval works (one task can take hours without a progress call). A killed worker
    stops beating, and ``fail_stale_runs`` fails its run."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.ARENA["EVALUATION_HEARTBEAT_SECONDS"]):
                EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.RUNNING).update(
                    heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=beat, name=f"evaluation-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def run_options(run: EvaluationRun, extra: dict | None = None, *, resolve_tasks: bool = True) -> RunOptions:
    """The run's stored settings as lm-eval options (the CLI may add batch size and the like)."""
    options = {"num_fewshot": run.num_fewshot, "limit": run.limit, "apply_chat_template": run.apply_chat_template,
               "fewshot_as_multiturn": run.fewshot_as_multiturn, "max_length": run.max_length,
               "num_concurrent": run.num_concurrent, **(extra or {})}
    return RunOptions(tasks=suites.resolve_tasks(run.suite, run.tasks) if resolve_tasks else [], **options)


def execute_run(run: EvaluationRun | int, *, target: Target | None = None, options: dict | None = None,
                runner: Callable[..., Outcome] = run_evaluation) -> EvaluationRun:
    """Run lm-eval for a pending run and store the outcome. Never raises for a failed evaluation:
    the run ends FAILED with the message in ``error`` and no scores."""
    run = EvaluationRun.objects.get(pk=run) if isinstance(run, int) else run
    now = timezone.now()
    claimed = EvaluationRun.objects.filter(
        pk=run.pk, status__in=[EvaluationRun.Status.PENDING, EvaluationRun.Status.FAILED]
    ).update(status=EvaluationRun.Status.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, error="",
             progress=0.0, progress_message="starting")
    if not claimed:  # already running or done: a duplicate delivery of the task
        logger.warning("evaluation run %s is %s; not starting it again", run.pk, run.status)
        return run
    run.refresh_from_db()
    try:
        if target is None:
            target = resolve_target(run.model_label, run.backend)
        lm_options = run_options(run, options)
        EvaluationRun.objects.filter(pk=run.pk).update(target=target.as_dict(),
                                                       protocol=protocol(lm_options, target.backend))
        with _heartbeat(run.pk):
            outcome = runner(target, lm_options, progress=_progress_writer(run.pk))
        store_outcome(run, outcome)
    except EvaluationError as exc:
        mark_failed(run, str(exc))
    except Exception as exc:  # noqa: BLE001 - an unexpected crash must still end the run as FAILED
        logger.exception("evaluation run %s crashed", run.pk)
        mark_failed(run, f"{type(exc).__name__}: {exc}")
    run.refresh_from_db()
    return run


def fail_stale_runs() -> int:
    """Fail RUNNING runs whose worker stopped beating (SIGKILL, out of memory, the hard time limit), so
    the page stops showing them as running and "Run again" can take them. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.ARENA["EVALUATION_STALE_SECONDS"])
    stale = EvaluationRun.objects.filter(status=EvaluationRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
    count = 0
    for run in stale:
        last = run.heartbeat_at or run.started_at
        mark_failed(run, f"the worker stopped (no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC); run it again",
                    only_if_running=True)
        count += 1
    return count


def mark_failed(run: EvaluationRun, message: str, *, only_if_running: bool = False) -> None:
    with transaction.atomic():
        rows = EvaluationRun.objects.filter(pk=run.pk)
        if only_if_running:  # the stale check must not overwrite a run that just finished
            rows = rows.filter(status=EvaluationRun.Status.RUNNING)
        if rows.update(status=EvaluationRun.Status.FAILED, error=message, finished_at=timezone.now(),
                       progress_message="failed"):
            run.scores.all().delete()  # nothing partial survives a failure


@transaction.atomic
def store_outcome(run: EvaluationRun, outcome: Outcome) -> None:
    """Scores and the SUCCEEDED status are written together, so readers never see half a run."""
    if not outcome.scores:
        raise EvaluationError("lm-eval produced no scores")
    run.scores.all().delete()
    BenchmarkScore.objects.bulk_create([
        BenchmarkScore(run=run, task=s.task, benchmark=s.benchmark, metric=s.metric, filter=s.filter,
                       value=s.value, stderr=s.stderr, num_fewshot=s.num_fewshot, n_samples=s.n_samples,
                       is_group=s.is_group, task_version=s.task_version)
        for s in outcome.scores
    ])
    EvaluationRun.objects.filter(pk=run.pk).update(
        status=EvaluationRun.Status.SUCCEEDED, progress=1.0, progress_message="done", error="",
        raw_results=outcome.results, versions=outcome.versions, n_items=outcome.n_items,
        items_per_second=outcome.items_per_second, finished_at=timezone.now(),
        protocol=outcome.protocol or run.protocol or protocol(run_options(run, resolve_tasks=False), run.backend),
    )
