"""The Celery entry point: queued on commit, records its id, runs the evaluation (eager in tests)."""
import pytest

from evaluation import services
from evaluation.models import EvaluationRun

pytestmark = pytest.mark.django_db


def test_celery_task_runs_the_evaluation_and_records_progress(tiny_llama_dir, small_pack,
                                                             django_capture_on_commit_callbacks):
    run = services.create_run(model_label=str(tiny_llama_dir), tasks=["epec_koref_bin_local"], num_fewshot=0, limit=2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.launch_run(run)
    run.refresh_from_db()
    assert len(callbacks) == 1 and run.status == EvaluationRun.Status.PENDING  # nothing runs before the commit
    callbacks[0]()  # the commit: CELERY_TASK_ALWAYS_EAGER runs the task here
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.progress_message == "done" and run.celery_task_id
    assert run.scores.get(metric="acc").n_samples == 2
