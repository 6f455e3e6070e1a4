"""Writes: create runs, execute them, store their scores (all-or-nothing)."""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from . import suites
from .errors import EvaluationError
from .models import BenchmarkScore, EvaluationRun
from .runner import Outcome, RunOptions, run_evaluation
from .targets import BACKENDS, Target, resolve_target

logger = logging.getLogger(__name__)


def create_run(*, model_label: str, backend: str = "auto", suite: str = "basque", tasks: list[str] | None = None,
               num_fewshot: int | None = 5, limit: int | None = None, apply_chat_template: bool = False,
               created_by=None) -> EvaluationRun:
    """Validate the request (cheap checks only) and record a pending run."""
    from models_serving.models import ServedModel

    model_label = (model_label or "").strip()
    if not model_label:
        raise EvaluationError("a model (arena public name or checkpoint path) is required")
    if backend not in BACKENDS:
        raise EvaluationError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    suites.resolve_tasks(suite, tasks)  # raises on an unknown suite / empty task list
    return EvaluationRun.objects.create(
        model_label=model_label, served_model=ServedModel.objects.filter(public_name=model_label).first(),
        backend=backend, suite=suite, tasks=list(tasks or []), num_fewshot=num_fewshot, limit=limit,
        apply_chat_template=apply_chat_template, created_by=created_by,
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
                                                       progress_message=message[:300])
    return write


def execute_run(run: EvaluationRun | int, *, target: Target | None = None, options: dict | None = None,
                runner: Callable[..., Outcome] = run_evaluation) -> EvaluationRun:
    """Run lm-eval for a pending run and store the outcome. Never raises for a failed evaluation:
    the run ends FAILED with the message in ``error`` and no scores."""
    run = EvaluationRun.objects.get(pk=run) if isinstance(run, int) else run
    claimed = EvaluationRun.objects.filter(
        pk=run.pk, status__in=[EvaluationRun.Status.PENDING, EvaluationRun.Status.FAILED]
    ).update(status=EvaluationRun.Status.RUNNING, started_at=timezone.now(), finished_at=None, error="",
             progress=0.0, progress_message="starting")
    if not claimed:  # already running or done: a duplicate delivery of the task
        logger.warning("evaluation run %s is %s; not starting it again", run.pk, run.status)
        return run
    run.refresh_from_db()
    try:
        if target is None:
            target = resolve_target(run.model_label, run.backend)
        EvaluationRun.objects.filter(pk=run.pk).update(target=target.as_dict())
        run_options = RunOptions(tasks=suites.resolve_tasks(run.suite, run.tasks), num_fewshot=run.num_fewshot,
                                 limit=run.limit, apply_chat_template=run.apply_chat_template, **(options or {}))
        outcome = runner(target, run_options, progress=_progress_writer(run.pk))
        store_outcome(run, outcome)
    except EvaluationError as exc:
        mark_failed(run, str(exc))
    except Exception as exc:  # noqa: BLE001 - an unexpected crash must still end the run as FAILED
        logger.exception("evaluation run %s crashed", run.pk)
        mark_failed(run, f"{type(exc).__name__}: {exc}")
    run.refresh_from_db()
    return run


def mark_failed(run: EvaluationRun, message: str) -> None:
    with transaction.atomic():
        run.scores.all().delete()  # nothing partial survives a failure
        EvaluationRun.objects.filter(pk=run.pk).update(
            status=EvaluationRun.Status.FAILED, error=message, finished_at=timezone.now(),
            progress_message="failed",
        )


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
    )
