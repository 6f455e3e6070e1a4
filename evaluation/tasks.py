"""Celery entry point: thin, all work is in services.execute_run."""
from celery import shared_task


@shared_task(bind=True)
def run_evaluation_task(self, run_id: int) -> str:
    from .models import EvaluationRun
    from .services import execute_run

    EvaluationRun.objects.filter(pk=run_id, celery_task_id="").update(celery_task_id=self.request.id or "")
    return execute_run(run_id).status


@shared_task(name="evaluation.fail_stale_runs")
def fail_stale_runs() -> int:
    """Beat: runs whose worker was killed are failed, so "Run again" can take them."""
    from .services import fail_stale_runs as fail

    return fail()
